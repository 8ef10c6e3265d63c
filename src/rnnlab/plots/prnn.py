"""PRNN figures (rhythm.md §8.4-8.5, §12): loss curve, predicted vs true, P̂(t) traces,
± peak rasters, PCA trajectories (3-D and 2-D) and trajectory mean vs SD by period.

Every figure reads the files of the ``train_prnn`` and ``eval_prnn`` stages (curve CSV,
metrics JSON, per-trial CSV, figure-data npz) and never recomputes an analysis: the fitted
lines come from the metrics JSON, the peaks and projections from the npz.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from rnnlab.io import read_json
from rnnlab.plots.style import POPULATION_COLOURS as C
from rnnlab.plots.style import plt, save, set_dpi, tempo_colours

SIGN_COLOURS = {1: "#c0392b", -1: "#2471a3"}


def load_figure_data(path: str) -> dict[str, np.ndarray]:
    """All arrays of the figure-data npz (no pickles)."""
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _period_colours(periods_s: np.ndarray) -> list:
    """One colour per period, short (dark) to long (light)."""
    palette = tempo_colours(len(periods_s))
    rank = np.argsort(np.argsort(np.asarray(periods_s)))
    return [palette[r] for r in rank]


def plot_loss(curve: pd.DataFrame, path: str) -> None:
    """Train and validation masked MSE per epoch (log scale), best checkpoints marked."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    ax.plot(curve["epoch"], curve["train_mse"], color=C["train"], label="train (epoch mean)")
    ax.plot(curve["epoch"], curve["val_mse"], color=C["validation"], label="validation")
    best = curve[curve["best"] == 1]
    ax.scatter(
        best["epoch"], best["val_mse"], color=C["validation"], s=18, zorder=3,
        label="new best (checkpoint saved)",
    )  # fmt: skip
    final = curve.loc[curve["val_mse"].idxmin()]
    ax.scatter(
        [final["epoch"]], [final["val_mse"]], marker="*", s=140, color="k", zorder=4,
        label=f"kept checkpoint (epoch {int(final['epoch'])})",
    )  # fmt: skip
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("masked MSE (s²), steps after the 2nd pulse")
    ax.set_title("PRNN training: held-out validation periods", fontsize=10, loc="left")
    ax.legend(fontsize=8, frameon=False)
    save(fig, path)


def plot_predicted_vs_true(metrics: dict[str, Any], trials: pd.DataFrame, path: str) -> None:
    """End-of-sync and end-of-trial estimates vs true P, with y = x and the fitted line."""
    fig, axes = plt.subplots(
        1, 2, figsize=(10, 4.8), sharex=True, sharey=True, layout="constrained"
    )
    lo = float(min(trials["period_s"].min(), 0.0))
    hi = float(trials["period_s"].max()) * 1.08
    for ax, key, col, title in (
        (axes[0], "end_of_sync", "end_of_sync_s", "end of synchronisation"),
        (axes[1], "end_of_trial", "end_of_trial_s", "end of trial (after the continuation)"),
    ):
        m = metrics[key]
        ax.scatter(trials["period_s"], trials[col], s=14, color=C["output"], zorder=3)
        grid = np.array([lo, hi])
        ax.plot(grid, grid, color=C["target"], ls="--", lw=1.0, label="y = x")
        ax.plot(
            grid, m["slope"] * grid + m["intercept"], color=C["validation"], lw=1.2,
            label=f"fit: y = {m['slope']:.3f} x {m['intercept']:+.4f}",
        )  # fmt: skip
        ax.set_title(
            f"{title}\nMAE {m['mae'] * 1e3:.1f} ms, R² {m['r2']:.4f}", fontsize=9, loc="left"
        )
        ax.set_xlabel("true period P (s)")
        ax.legend(fontsize=8, frameon=False, loc="upper left")
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.set_aspect("equal")
    axes[0].set_ylabel("estimated period P̂ (s)")
    fig.suptitle("PRNN on held-out test periods", fontsize=10)
    save(fig, path)


def plot_traces(data: dict[str, np.ndarray], path: str) -> None:
    """P̂(t) against the true P over long trials, one panel per period."""
    periods = data["trace_periods_s"]
    t = data["trace_t_s"]
    n = len(periods)
    cols = 2 if n > 3 else 1
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(
        rows, cols, figsize=(6 * cols, 2.4 * rows), squeeze=False, layout="constrained"
    )
    for k, ax in enumerate(axes.ravel()):
        if k >= n:
            ax.set_visible(False)
            continue
        p = float(periods[k])
        ax.plot(t, data["trace_estimate"][k], color=C["output"], lw=1.0, label="P̂(t)")
        ax.axhline(p, color=C["target"], lw=1.5, ls="--", label="true P")
        ax.axvline(float(data["trace_sync_end_s"][k]), color="0.5", lw=0.8, ls=":")
        ax.axvspan(0, float(data["trace_first_valid_s"][k]), color="0.9", lw=0)
        kind = "trained period" if bool(data["trace_trained"][k]) else "not a training period"
        ax.set_title(f"P = {p * 1e3:.0f} ms ({kind})", fontsize=9, loc="left")
        ax.set_ylabel("period (s)")
    axes[0, 0].legend(fontsize=8, frameon=False, loc="upper right")
    for ax in axes[-1]:
        ax.set_xlabel("time (s)  [grey: before the 2nd pulse; dotted: end of sync]")
    fig.suptitle("PRNN estimate over long trials (pulses, then continuation)", fontsize=10)
    save(fig, path)


def plot_rasters(data: dict[str, np.ndarray], path: str) -> None:
    """± peak rasters of the LSTM units around the end of synchronisation, one per period."""
    periods = data["raster_periods_s"]
    dt = float(data["dt_s"])
    n_units = data["raster_window"].shape[2]
    fig, axes = plt.subplots(
        len(periods), 1, figsize=(9, 3.2 * len(periods)), squeeze=False, layout="constrained"
    )
    for k, ax in enumerate(axes[:, 0]):
        sel = data["raster_peak_period"] == k
        t0 = float(data["raster_t0_s"][k])
        window = data["raster_window"][k].astype(np.float32)
        ax.imshow(
            window.T, aspect="auto", cmap="RdBu_r", vmin=-1, vmax=1, alpha=0.35,
            extent=(t0, t0 + window.shape[0] * dt, n_units - 0.5, -0.5), interpolation="nearest",
        )  # fmt: skip
        for sign, colour in SIGN_COLOURS.items():
            hit = sel & (data["raster_peak_sign"] == sign)
            ax.scatter(
                t0 + data["raster_peak_step"][hit] * dt, data["raster_peak_rank"][hit],
                marker="|", s=14, lw=0.8, color=colour,
            )  # fmt: skip
        for pulse in data["raster_pulses_s"][k]:
            if np.isfinite(pulse):
                ax.axvline(float(pulse), color=C["pulses"], lw=0.5, alpha=0.5)
        ax.axvline(float(data["raster_sync_end_s"][k]), color="k", lw=1.0, ls="--")
        ax.set_ylim(n_units - 0.5, -0.5)
        ax.set_xlim(t0, t0 + data["raster_window"].shape[1] * dt)
        ax.set_ylabel("unit (by mean continuation h)")
        ax.set_title(
            f"P = {float(periods[k]) * 1e3:.0f} ms: peaks of +h (red) and −h (blue) above "
            f"{float(data['raster_threshold']):.2f} max|h|; dashed: end of sync",
            fontsize=9, loc="left",
        )  # fmt: skip
    axes[-1, 0].set_xlabel("time (s); orange: pulses; background: h / max|h| (blue −1, red +1)")
    save(fig, path)


def _pca_legend(ax: Any) -> None:
    handles = [
        Line2D([], [], color="0.3", ls="--", label="synchronisation"),
        Line2D([], [], color="0.3", ls="-", label="continuation"),
        Line2D([], [], color="gold", marker="o", ls="", label="start"),
        Line2D([], [], color="red", marker="s", ls="", label="end"),
        Line2D([], [], color="k", marker=".", ls="", label="pulses"),
    ]
    ax.legend(handles=handles, fontsize=7, frameon=False, loc="upper left")


def plot_pca(data: dict[str, np.ndarray], path: str, dims: int) -> None:
    """PCA trajectories in ``dims`` = 2 or 3 dimensions, one colour per period."""
    proj = data["pca_proj"].astype(np.float64)
    periods = data["pca_periods_s"]
    ratio = data["pca_explained_variance_ratio"]
    colours = _period_colours(periods)
    fig = plt.figure(figsize=(7.5, 6.5))
    ax = fig.add_subplot(projection="3d" if dims == 3 else None)
    for k in range(len(periods)):
        cut = int(data["pca_sync_index"][k])
        sync, cont = proj[k, : cut + 1, :dims], proj[k, cut:, :dims]
        ax.plot(*sync.T, color=colours[k], ls="--", lw=0.7)
        ax.plot(*cont.T, color=colours[k], ls="-", lw=1.4, label=f"{float(periods[k]):g} s")
        pul = data["pca_pulses"][k][np.all(np.isfinite(data["pca_pulses"][k]), axis=1)]
        ax.scatter(*pul[:, :dims].T, color="k", s=3)
        ax.scatter(*data["pca_start"][k, :dims], color="gold", s=40, edgecolor="k", zorder=5)
        ax.scatter(
            *data["pca_end"][k, :dims], color="red", marker="s", s=40, edgecolor="k", zorder=5
        )
    setters = [ax.set_xlabel, ax.set_ylabel] + ([ax.set_zlabel] if dims == 3 else [])
    for i, setter in enumerate(setters):
        setter(f"PC{i + 1} ({100 * ratio[i]:.1f} %)")
    first = ax.legend(fontsize=7, frameon=False, loc="upper right", title="period")
    ax.add_artist(first)
    _pca_legend(ax)
    ax.set_title(f"PRNN hidden states, PCA ({dims}-D)", fontsize=10, loc="left")
    save(fig, path)


def plot_trajectory_stats(data: dict[str, np.ndarray], path: str) -> None:
    """Per-step PC displacement: mean vs SD by period (whole trial; phases as open marks)."""
    periods = data["pca_periods_s"]
    mean, sd = data["traj_mean"], data["traj_sd"]
    colours = _period_colours(periods)
    fig, ax = plt.subplots(figsize=(6, 4.8))
    ax.plot(mean[:, 0], sd[:, 0], color="0.6", lw=0.8, zorder=1)
    for k, p in enumerate(periods):
        ax.scatter(mean[k, 0], sd[k, 0], color=colours[k], s=50, zorder=3, label=f"{p:g} s")
        ax.scatter(mean[k, 1], sd[k, 1], facecolor="none", edgecolor=colours[k], marker="^")
        ax.scatter(mean[k, 2], sd[k, 2], facecolor="none", edgecolor=colours[k], marker="v")
    ax.set_xlabel("mean per-step displacement in PC1-3")
    ax.set_ylabel("SD of per-step displacement")
    ax.set_title(
        "trajectory mean vs SD by period (●: whole trial, △ sync, ▽ continuation)",
        fontsize=9, loc="left",
    )  # fmt: skip
    ax.legend(fontsize=7, frameon=False, title="period", ncol=2)
    save(fig, path)


def fig_prnn_stage(
    fig_params: dict[str, Any],
    curve_csv_path: str,
    metrics_path: str,
    trials_csv_path: str,
    figure_data_npz_path: str,
    loss_png: str,
    scatter_png: str,
    traces_png: str,
    raster_png: str,
    pca3d_png: str,
    pca2d_png: str,
    trajectory_png: str,
) -> None:
    """Stage ``fig_prnn``: all PRNN figures from the saved files (``rhythm.figures``)."""
    set_dpi(int(fig_params["dpi"]))
    data = load_figure_data(figure_data_npz_path)
    plot_loss(pd.read_csv(curve_csv_path), loss_png)
    plot_predicted_vs_true(read_json(metrics_path), pd.read_csv(trials_csv_path), scatter_png)
    plot_traces(data, traces_png)
    plot_rasters(data, raster_png)
    plot_pca(data, pca3d_png, dims=3)
    plot_pca(data, pca2d_png, dims=2)
    plot_trajectory_stats(data, trajectory_png)
