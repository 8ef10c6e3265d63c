"""IZRNN figures (stage ``fig_izrnn``): read ``eval_izrnn``'s files, never recompute."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from rnnlab.io import read_json
from rnnlab.plots.style import POPULATION_COLOURS as C
from rnnlab.plots.style import plt, save, set_dpi, tempo_colours

SOURCE_COLOURS = {"prnn": "#8e44ad", "zrnn": "#27ae60", "izrnn": "#111111"}


def plot_cue_interval(trials: pd.DataFrame, path: str) -> None:
    """Delivered cue vs produced interval (IZRNN), and true cue vs interval (ZRNN control)."""
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    cue_grid = np.linspace(trials["true_cue"].min() * 0.9, trials["true_cue"].max() * 1.05, 200)
    ax.plot(cue_grid, 0.1 / cue_grid * 1e3, color=C["target"], lw=1.5, label="ideal: 0.1 / cue")
    for listed, marker, name in ((True, "o", "listed 1-8 Hz"), (False, ".", "random")):
        sub = trials[(trials["listed"] == listed) & trials["izrnn_oscillating"]]
        ax.scatter(
            sub["delivered_cue"],
            sub["izrnn_interval_s"] * 1e3,
            color=SOURCE_COLOURS["izrnn"],
            marker=marker,
            s=28 if listed else 14,
            label=f"IZRNN, delivered cue ({name})",
        )
    ctl = trials[trials["listed"] & trials["zrnn_oscillating"]]
    ax.scatter(
        ctl["true_cue"],
        ctl["zrnn_interval_s"] * 1e3,
        facecolor="none",
        edgecolor=SOURCE_COLOURS["zrnn"],
        s=40,
        label="ZRNN, true cue (control)",
    )
    ax.set_xlabel("cue I_cc (a.u.)")
    ax.set_ylabel("mean inter-tap interval (ms)")
    ax.set_yscale("log")
    ax.set_title("IZRNN continuation: cue -> interval")
    ax.legend(fontsize=7, frameon=False)
    save(fig, path)


def plot_error_split(trials: pd.DataFrame, path: str) -> None:
    """Per listed period: PRNN estimation error, ZRNN calibration error, IZRNN error (%)."""
    listed = trials[trials["listed"]].sort_values("period_s", ascending=False)
    x = np.arange(len(listed))
    width = 0.27
    fig, ax = plt.subplots(figsize=(8, 4))
    bars = (
        ("prnn_rel_error", "PRNN estimate (delivered period)", "prnn"),
        ("zrnn_rel_error", "ZRNN with the true cue (calibration)", "zrnn"),
        ("izrnn_rel_error", "IZRNN interval", "izrnn"),
    )
    for i, (col, label, key) in enumerate(bars):
        ax.bar(
            x + (i - 1) * width, listed[col] * 100, width, color=SOURCE_COLOURS[key], label=label
        )
    missing = listed["izrnn_rel_error"].isna().to_numpy()
    for xi in x[missing]:
        ax.text(xi + width, 0, "no osc.", rotation=90, fontsize=7, ha="center", va="bottom")
    ax.axhline(0, color="0.3", lw=0.8)
    ax.set_xticks(x, [f"{p * 1e3:.0f}" for p in listed["period_s"]], rotation=45)
    ax.set_xlabel("true period (ms)")
    ax.set_ylabel("relative error (%)")
    ax.set_title("Where the IZRNN's timing error comes from")
    ax.legend(fontsize=8, frameon=False)
    save(fig, path)


def plot_traces(traces: dict[str, np.ndarray], path: str) -> None:
    """Per period: pulses, IZRNN and control outputs; delivered period vs the true one."""
    periods = traces["period_s"]
    t = traces["time_s"]
    n = len(periods)
    fig, axes = plt.subplots(n, 1, figsize=(10, 1.9 * n), sharex=True, squeeze=False)
    colours = tempo_colours(n)
    for i, ax in enumerate(axes[:, 0]):
        ax.fill_between(
            t, 0, traces["pulses"][i], color=C["pulses"], alpha=0.35, lw=0, label="pulses"
        )
        ax.plot(
            t,
            traces["control_output"][i],
            color=SOURCE_COLOURS["zrnn"],
            lw=0.6,
            alpha=0.8,
            label="ZRNN, true cue",
        )
        ax.plot(t, traces["output"][i], color=SOURCE_COLOURS["izrnn"], lw=0.7, label="IZRNN output")
        ax.axvline(float(traces["sync_end_s"]), color="0.5", lw=0.8, ls=":")
        ax.set_ylabel("output (a.u.)")
        ax2 = ax.twinx()
        ax2.plot(t, traces["delivered"][i] * 1e3, color=colours[i], lw=1.5, label="delivered P̂")
        ax2.axhline(periods[i] * 1e3, color=colours[i], lw=0.8, ls="--", label="true P")
        ax2.set_ylabel("period (ms)")
        ax.set_title(f"P = {periods[i] * 1e3:.0f} ms", fontsize=9, loc="left")
        if i == 0:
            h1, l1 = ax.get_legend_handles_labels()
            h2, l2 = ax2.get_legend_handles_labels()
            ax.legend(h1 + h2, l1 + l2, fontsize=7, ncol=5, loc="upper right", frameon=False)
    axes[-1, 0].set_xlabel("time (s)   [dotted line: end of synchronisation]")
    fig.suptitle("IZRNN: the PRNN's estimate drives the ZRNN")
    save(fig, path)


def plot_finetune(curve: pd.DataFrame, metrics: dict[str, Any], path: str) -> None:
    """Joint fine-tuning loss per step (or a note that none was run)."""
    fig, ax = plt.subplots(figsize=(6, 3.6))
    if len(curve):
        ax.plot(curve["step"], curve["loss"], color=C["train"], label="training batch MSE")
        ax.set_yscale("log")
        ax.legend(frameon=False)
    else:
        ax.text(
            0.5,
            0.5,
            "no joint fine-tuning (finetune.steps = 0):\nPRNN and ZRNN as trained separately",
            ha="center",
            va="center",
            transform=ax.transAxes,
        )
    frozen = metrics["finetune"]["freeze_prnn"]
    ax.set_xlabel("Adam step")
    ax.set_ylabel("MSE")
    ax.set_title(f"IZRNN joint fine-tuning ({'PRNN frozen' if frozen else 'PRNN trained'})")
    save(fig, path)


def fig_izrnn_stage(
    fig_params: dict[str, Any],
    trials_csv_path: str,
    traces_npz_path: str,
    finetune_curve_path: str,
    compose_metrics_path: str,
    cue_interval_png: str,
    error_split_png: str,
    traces_png: str,
    finetune_png: str,
) -> None:
    """Stage ``fig_izrnn``: the IZRNN behaviour figures (``rhythm.figures``)."""
    set_dpi(int(fig_params["dpi"]))
    trials = pd.read_csv(trials_csv_path)
    with np.load(traces_npz_path, allow_pickle=False) as z:
        traces = {k: z[k] for k in z.files}
    plot_cue_interval(trials, cue_interval_png)
    plot_error_split(trials, error_split_png)
    plot_traces(traces, traces_png)
    plot_finetune(pd.read_csv(finetune_curve_path), read_json(compose_metrics_path), finetune_png)
