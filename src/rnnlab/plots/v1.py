"""Figures of the V1 layer-5 model (circuits.md B9); they only read the stage outputs.

Inputs: ``selectivity.csv``, ``weights.csv``, ``neurons.csv``, ``timecourse.npz`` written by
``v1_simulate``/``v1_best`` and ``trials.csv`` / ``metrics.json`` written by ``v1_tune``.
Differences from the original's plots: weights are true block means (the original drew block
stds because of the mean/std aliasing) against the signed targets, tick labels follow the data
order CS, CC, PV, SST, and the weight-over-time targets are indexed [post, pre] correctly.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rnnlab.io import read_json
from rnnlab.plots.style import plt, save, set_dpi

POPULATIONS = ("CS", "CC", "PV", "SST")
V1_COLOURS = {"CS": "#FF0000", "CC": "#00A08A", "PV": "#F2AD00", "SST": "#5BBCD6"}
CONDITION_STYLE = {"before": {"alpha": 0.45, "hatch": "//"}, "after": {"alpha": 1.0, "hatch": ""}}


def _npz(path: str | Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def plot_block_weights(weights_csv: str | Path, timecourse_npz: str | Path) -> plt.Figure:
    """Initial vs final block-mean weights per post-pre pair with targets; Δ below."""
    table = pd.read_csv(weights_csv).set_index("row")
    target = _npz(timecourse_npz)["w_compare_post_pre"].reshape(16)
    pairs = list(table.columns)
    x = np.arange(len(pairs))
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 6.5), sharex=True)
    colours = [V1_COLOURS[p.split("-")[0]] for p in pairs]
    top.bar(
        x - 0.2,
        table.loc["Mean_Wini"],
        0.4,
        yerr=table.loc["Std_mean_Wini"],
        color=colours,
        alpha=0.4,
        label="initial (block mean ± SD over runs)",
    )
    top.bar(
        x + 0.2,
        table.loc["Mean_weight"],
        0.4,
        yerr=table.loc["Std_mean_W"],
        color=colours,
        label="final",
    )
    top.scatter(x, target, marker="_", s=300, color="k", zorder=3, label="target (w_compare)")
    top.axhline(0, color="k", lw=0.5)
    top.set_ylabel("block-mean weight")
    top.set_title("Block weights per post-pre pair (colour = postsynaptic type)")
    top.legend(fontsize=8)
    bottom.bar(x, table.loc["Mean_Wdel"], 0.6, yerr=table.loc["Std_mean_Wdel"], color=colours)
    bottom.axhline(0, color="k", lw=0.5)
    bottom.set_ylabel("Δ weight (final − initial)")
    bottom.set_xticks(x, pairs, rotation=45)
    bottom.set_xlabel("post-pre population pair")
    fig.tight_layout()
    return fig


def plot_selectivity(selectivity_csv: str | Path) -> plt.Figure:
    """Mean rate, OS, DS and OS_paper per population, before vs after learning."""
    table = pd.read_csv(selectivity_csv).set_index(["condition", "property"])
    panels = [
        ("Mean_act", "Mean_std", "mean rate (a.u.)"),
        ("Mean_of_OS", "Mean_std_OS", "OS"),
        ("Mean_of_DS", "Mean_std_DS", "DS"),
        ("Mean_of_OS_p", "Mean_std_OS_p", "OS (paper)"),
    ]
    fig, axes = plt.subplots(2, 2, figsize=(9, 6.5))
    x = np.arange(4)
    for ax, (row, err, label) in zip(axes.flat, panels, strict=True):
        for j, cond in enumerate(("before", "after")):
            vals = table.loc[(cond, row), list(POPULATIONS)].to_numpy(dtype=float)
            errs = table.loc[(cond, err), list(POPULATIONS)].to_numpy(dtype=float)
            ax.bar(
                x + (j - 0.5) * 0.38,
                vals,
                0.38,
                yerr=errs,
                color=[V1_COLOURS[p] for p in POPULATIONS],
                edgecolor="k",
                label=f"{cond} learning",
                **CONDITION_STYLE[cond],
            )
        ax.set_xticks(x, POPULATIONS)
        ax.set_ylabel(label)
        ax.set_xlabel("population")
    axes[0, 0].legend(fontsize=8)
    fig.suptitle("Selectivity before vs after learning (mean over simulations ± within-sim SD)")
    fig.tight_layout()
    return fig


def plot_activity(timecourse_npz: str | Path) -> plt.Figure:
    """Mean rate per population against time, one panel per stimulus direction."""
    z = _npz(timecourse_npz)
    t = z["time_tau"]
    fig, axes = plt.subplots(2, 2, figsize=(10, 6.5), sharex=True, sharey=True)
    for d, ax in enumerate(axes.flat[: len(z["directions_deg"])]):
        for p, name in enumerate(POPULATIONS):
            m, s = z["activity_mean"][p, d], z["activity_std"][p, d]
            ax.plot(t, m, color=V1_COLOURS[name], label=name)
            ax.fill_between(t, m - s, m + s, color=V1_COLOURS[name], alpha=0.15)
        ax.axvline(float(z["learning_start_tau"]), color="k", ls=":", lw=1, label="learning on")
        ax.set_title(f"direction {z['directions_deg'][d]:.0f}°")
        ax.set_xlabel("time (τ)")
        ax.set_ylabel("rate (a.u.), mean ± SD over neurons")
    axes.flat[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_weights_time(timecourse_npz: str | Path) -> plt.Figure:
    """Block-mean weight onto each postsynaptic type against time, per presynaptic type."""
    z = _npz(timecourse_npz)
    t, mean, std, target = (
        z["time_tau"],
        z["weights_mean"],
        z["weights_std"],
        z["w_compare_post_pre"],
    )
    fig, axes = plt.subplots(2, 2, figsize=(10, 6.5), sharex=True)
    for post, ax in enumerate(axes.flat):
        for pre, name in enumerate(POPULATIONS):
            c = V1_COLOURS[name]
            ax.plot(t, mean[:, post, pre], color=c, label=f"from {name}")
            ax.fill_between(
                t,
                mean[:, post, pre] - std[:, post, pre],
                mean[:, post, pre] + std[:, post, pre],
                color=c,
                alpha=0.15,
            )
            ax.axhline(target[post, pre], color=c, ls="--", lw=0.8)
        ax.axvline(float(z["learning_start_tau"]), color="k", ls=":", lw=1)
        ax.set_title(f"onto {POPULATIONS[post]} (dashed: target)")
        ax.set_xlabel("time (τ)")
        ax.set_ylabel("block-mean weight")
    axes.flat[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_rate_histograms(neurons_csv: str | Path) -> plt.Figure:
    """Distribution of per-neuron responses after learning, per population and direction."""
    df = pd.read_csv(neurons_csv)
    fig, axes = plt.subplots(2, 2, figsize=(10, 6.5))
    directions = sorted(df["direction_deg"].unique())
    cmap = plt.get_cmap("viridis")
    for ax, name in zip(axes.flat, POPULATIONS, strict=True):
        sub = df[df["population"] == name]
        bins = np.linspace(sub["rate_after"].min(), sub["rate_after"].max() + 1e-9, 30)
        for k, d in enumerate(directions):
            ax.hist(
                sub.loc[sub["direction_deg"] == d, "rate_after"],
                bins=bins,
                histtype="step",
                color=cmap(k / max(1, len(directions) - 1) * 0.9),
                label=f"{d:.0f}°",
            )
        ax.set_title(name, color=V1_COLOURS[name])
        ax.set_xlabel("response after learning (a.u.)")
        ax.set_ylabel("neurons (all simulations)")
    axes.flat[0].legend(title="direction", fontsize=8)
    fig.tight_layout()
    return fig


def plot_tuning(trials_csv: str | Path, metrics_json: str | Path) -> plt.Figure:
    """Tuning history: loss per trial with the running best, and the sampled parameters."""
    df = pd.read_csv(trials_csv)
    metrics = read_json(metrics_json)
    ok = df[df["state"] == "COMPLETE"].sort_values("number")
    feas = ok[ok["feasible"].astype(bool)]
    infeas = ok[~ok["feasible"].astype(bool)]
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    ax = axes[0]
    ax.scatter(feas["number"], feas["loss"], s=12, color="#555555", label="feasible trial")
    ax.scatter(
        infeas["number"],
        infeas["loss"],
        s=14,
        marker="x",
        color="#bbbbbb",
        label="infeasible (a population below min rate)",
    )
    if len(feas):
        ax.step(
            feas["number"],
            feas["loss"].cummin(),
            where="post",
            color="#c0392b",
            label="best feasible so far",
        )
    ax.set_xlabel("trial")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.legend(fontsize=7)
    ax.set_title(f"best loss {metrics['best_loss']:.3g} of {metrics['trials']} trials")
    sc = axes[1].scatter(ok["tau_learn"], ok["tau_threshold_factor"], c=np.log10(ok["loss"]), s=14)
    axes[1].set_xlabel("τ_learn")
    axes[1].set_ylabel("τ_θ / τ_learn")
    fig.colorbar(sc, ax=axes[1], label="log10 loss")
    for k, name in zip(("cs", "cc", "pv", "sst"), POPULATIONS, strict=True):
        axes[2].scatter(ok[k], ok["loss"], s=10, color=V1_COLOURS[name], label=name)
    axes[2].set_yscale("log")
    axes[2].set_xlabel("input amplitude (sampled)")
    axes[2].set_ylabel("loss")
    axes[2].legend(fontsize=8)
    fig.tight_layout()
    return fig


def fig_v1_stage(figures: Mapping[str, Any], in_dir: str | Path, pngs: Mapping[str, str]) -> None:
    """Draw the five simulation figures from a ``v1_simulate``/``v1_best`` output folder.

    ``pngs`` maps ``weights``, ``selectivity``, ``activity``, ``weights_time``, ``rates`` to paths.
    """
    set_dpi(int(figures["dpi"]))
    d = Path(in_dir)
    save(plot_block_weights(d / "weights.csv", d / "timecourse.npz"), pngs["weights"])
    save(plot_selectivity(d / "selectivity.csv"), pngs["selectivity"])
    save(plot_activity(d / "timecourse.npz"), pngs["activity"])
    save(plot_weights_time(d / "timecourse.npz"), pngs["weights_time"])
    save(plot_rate_histograms(d / "neurons.csv"), pngs["rates"])


def fig_v1_tune_stage(
    figures: Mapping[str, Any], trials_csv: str | Path, metrics_json: str | Path, png: str
) -> None:
    """Draw the tuning history."""
    set_dpi(int(figures["dpi"]))
    save(plot_tuning(trials_csv, metrics_json), png)
