"""Figures of the rhythm study; each reads saved analysis results and never recomputes."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from rnnlab.plots.style import POPULATION_COLOURS as C
from rnnlab.plots.style import plt, save, set_dpi


def plot_zrnn_outputs(traces: dict[str, np.ndarray], path: str) -> None:
    """One panel per trained period: output vs target, with pulse and cue inputs below."""
    periods = traces["periods_s"]
    time_s = np.arange(traces["output"].shape[1]) * float(traces["dt_s"])
    sync_end = float(traces["sync_window_s"]) + traces["onsets_s"]
    n = len(periods)
    fig, axes = plt.subplots(n, 1, figsize=(9, 1.7 * n), sharex=True, squeeze=False)
    for i, ax in enumerate(axes[:, 0]):
        ax.plot(time_s, traces["target"][i], color=C["target"], lw=2.0, label="target")
        ax.plot(time_s, traces["output"][i], color=C["output"], lw=1.0, label="output")
        ax.fill_between(
            time_s, 0, traces["pulses"][i], color=C["pulses"], alpha=0.35, lw=0, label="pulses"
        )
        ax.plot(time_s, traces["cue"][i], color=C["cue"], lw=1.2, ls="--", label="cue")
        ax.axvline(sync_end[i], color="0.5", lw=0.8, ls=":")
        ax.set_ylabel("a.u.")
        ax.set_title(
            f"P = {periods[i] * 1e3:.0f} ms ({1 / periods[i]:.1f} Hz)", fontsize=9, loc="left"
        )
        ax.set_ylim(-0.25, 1.35)
    axes[0, 0].legend(loc="upper right", ncol=4, fontsize=8, frameon=False)
    axes[-1, 0].set_xlabel("time (s)   [dotted line: end of synchronisation]")
    fig.suptitle("ZRNN on held-out test trials: output vs target and inputs")
    save(fig, path)


def plot_loss_curve(curve: pd.DataFrame, path: str) -> None:
    """Training and validation MSE against Adam steps (log scale), best step marked."""
    fig, ax = plt.subplots(figsize=(6, 3.8))
    ax.plot(curve["step"], curve["train_mse"], color=C["train"], label="train (window mean)")
    ax.plot(curve["step"], curve["val_mse"], color=C["validation"], label="validation")
    best = curve["val_mse"].idxmin()
    ax.scatter(
        [curve["step"][best]],
        [curve["val_mse"][best]],
        color=C["validation"],
        zorder=3,
        label=f"best checkpoint (step {int(curve['step'][best])})",
    )
    ax.set_yscale("log")
    ax.set_xlabel("Adam step")
    ax.set_ylabel("MSE")
    ax.set_title("ZRNN training")
    handles, labels = ax.get_legend_handles_labels()
    if "val_mare" in curve:
        ax2 = ax.twinx()
        (line,) = ax2.plot(
            curve["step"],
            curve["val_mare"] * 100,
            color="0.35",
            ls=":",
            label="validation timing error",
        )
        ax2.set_ylabel("continuation timing error (%)")
        handles.append(line)
        labels.append(line.get_label())
    ax.legend(handles, labels, frameon=False, fontsize=8)
    save(fig, path)


def plot_continuation(traces: dict[str, np.ndarray], table: pd.DataFrame, path: str) -> None:
    """Pulse-free drive: a window of output with detected taps, and interval vs target."""
    periods = traces["periods_s"]
    dt = float(traces["dt_s"])
    out = traces["continuation_output"]
    taps = traces["continuation_taps_s"]
    colours = plt.get_cmap("viridis")(np.linspace(0, 0.9, len(periods)))
    fig, (ax_t, ax_i) = plt.subplots(1, 2, figsize=(11, 3.8), gridspec_kw={"width_ratios": [2, 1]})
    time_s = float(traces["continuation_start_s"]) + np.arange(out.shape[1]) * dt
    for i, period in enumerate(periods):
        offset = 1.3 * i
        ax_t.plot(time_s, out[i] + offset, color=colours[i], lw=0.9)
        sel = taps[i][np.isfinite(taps[i])]
        sel = sel[(sel >= time_s[0]) & (sel <= time_s[-1])]
        idx = np.clip(np.round((sel - time_s[0]) / dt).astype(int), 0, out.shape[1] - 1)
        ax_t.plot(sel, out[i][idx] + offset, "v", color="k", ms=3)
        ax_t.text(time_s[-1], offset + 0.5, f" {period * 1e3:.0f} ms", fontsize=7, va="center")
    ax_t.set_xlabel("time since drive onset (s)")
    ax_t.set_ylabel("output (offset per tempo)")
    ax_t.set_title("pulse-free continuation; ▼ detected taps", fontsize=9, loc="left")
    target_ms = table["period_s"] * 1e3
    measured_ms = table["mean_interval_s"] * 1e3
    ax_i.plot(target_ms, target_ms, color="0.6", ls="--", label="y = x")
    ax_i.scatter(target_ms, measured_ms, c=colours, zorder=3, label="measured")
    ax_i.set_xlabel("target period (ms)")
    ax_i.set_ylabel("mean inter-tap interval (ms)")
    ax_i.legend(frameon=False, fontsize=8)
    save(fig, path)


def plot_cue_interval(
    trained: pd.DataFrame,
    untrained: pd.DataFrame,
    sync: pd.DataFrame,
    cue_scale: float,
    path: str,
) -> None:
    """Cue → mean inter-tap interval (trained vs untrained, target 0.1/cue) and asynchronies."""
    fig, (ax, ax_s) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [3, 2]})
    cue_grid = np.linspace(
        min(untrained["cue"].min(), trained["cue"].min()),
        max(untrained["cue"].max(), trained["cue"].max()),
        200,
    )
    ax.plot(
        cue_grid, cue_scale / cue_grid * 1e3, color="0.6", ls="--", label=f"target {cue_scale}/cue"
    )
    osc = untrained["oscillating"].astype(bool)
    ax.scatter(
        untrained["cue"][osc],
        untrained["mean_interval_s"][osc] * 1e3,
        color="0.55",
        s=14,
        label="untrained cues",
    )
    if (~osc).any():
        ax.scatter(
            untrained["cue"][~osc],
            np.zeros((~osc).sum()),
            marker="x",
            color="0.3",
            s=18,
            label="untrained, no rhythm",
        )
    t_osc = trained["oscillating"].astype(bool)
    ax.scatter(
        trained["cue"][t_osc],
        trained["mean_interval_s"][t_osc] * 1e3,
        color=C["pulses"],
        s=40,
        zorder=3,
        label="trained cues",
    )
    ax.axvspan(trained["cue"].min(), trained["cue"].max(), color=C["pulses"], alpha=0.07)
    ax.set_xlabel("context cue (a.u.)")
    ax.set_ylabel("mean inter-tap interval (ms)")
    ax.set_title("pulse-free continuation: shaded = trained cue range", fontsize=9, loc="left")
    ax.legend(frameon=False, fontsize=8)
    if len(sync):
        periods = sorted(sync["period_s"].unique())
        data = [sync.loc[sync["period_s"] == p, "asynchrony_ms"].to_numpy() for p in periods]
        ax_s.boxplot(data, tick_labels=[f"{p * 1e3:.0f}" for p in periods], showfliers=False)
        ax_s.axhline(0, color="0.6", ls="--", lw=0.8)
    ax_s.set_xlabel("period (ms)")
    ax_s.set_ylabel("output peak − pulse onset (ms)")
    ax_s.set_title("synchronisation asynchrony (< 0: anticipation)", fontsize=9, loc="left")
    save(fig, path)


def fig_zrnn_stage(
    fig_params: dict[str, Any],
    traces_path: str,
    curve_path: str,
    table_path: str,
    generalisation_path: str,
    sync_path: str,
    outputs_png: str,
    loss_png: str,
    continuation_png: str,
    cue_interval_png: str,
) -> None:
    """Figures from saved results only (nothing is recomputed here)."""
    set_dpi(int(fig_params["dpi"]))
    with np.load(traces_path, allow_pickle=False) as z:
        traces = {k: z[k] for k in z.files}
    plot_zrnn_outputs(traces, outputs_png)
    plot_loss_curve(pd.read_csv(curve_path), loss_png)
    table = pd.read_csv(table_path)
    plot_continuation(traces, table, continuation_png)
    cue_scale = float(np.median(table["cue"] * table["period_s"]))
    plot_cue_interval(
        table, pd.read_csv(generalisation_path), pd.read_csv(sync_path), cue_scale, cue_interval_png
    )
