"""Fig-1 analogues of the ZRNN dynamics (rhythm.md §5.2): raster, PCA orbits, cycle lengths.

Every figure reads the files written by the ``zrnn_dynamics`` stage (bounded figure-data npz,
per-unit CSV, per-tempo CSV) and never recomputes an analysis.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.colors import to_rgb
from matplotlib.patches import Patch

from rnnlab.plots.style import POPULATION_COLOURS, plt, save, set_dpi, tempo_colours

CLASS_COLOURS = {
    "tap_E": POPULATION_COLOURS["E"],
    "inter_tap_E": "#f1948a",
    "tap_I": POPULATION_COLOURS["I"],
    "inter_tap_I": "#85c1e9",
    "silent": "#bdc3c7",
    "unphased": "#eeeeee",
}


def load_figure_data(path: str) -> dict[str, np.ndarray]:
    """All arrays of the figure-data npz (no pickles)."""
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _tempo_label(period_s: float) -> str:
    return f"{period_s * 1e3:.0f} ms ({1.0 / period_s:.1f} Hz)"


def _colours_by_tempo(periods_s: np.ndarray) -> list:
    """Colour per tempo, slow (dark) to fast (light), whatever the order of ``periods_s``."""
    palette = tempo_colours(len(periods_s))
    rank = np.argsort(np.argsort(-np.asarray(periods_s)))
    return [palette[r] for r in rank]


def plot_raster(data: dict[str, np.ndarray], units: pd.DataFrame, path: str) -> None:
    """Sorted normalised-rate raster at the reference tempo, class strip, tap lines."""
    raster = data["raster"].astype(np.float32)
    order = data["raster_order"]
    by_rank = units.sort_values("raster_rank")
    if not np.array_equal(by_rank["unit"].to_numpy(), order):
        raise ValueError("raster order in the figure data disagrees with the unit table")
    n_units, width = raster.shape
    n_e = int(data["n_excitatory"])
    dt = float(data["dt_s"])
    t0 = float(data["raster_t0_s"])
    period = float(data["periods_s"][int(data["reference_index"])])
    extent = (t0, t0 + width * dt, n_units, 0)

    fig, (ax_c, ax_r) = plt.subplots(
        1, 2, figsize=(9, 5.5), sharey=True, gridspec_kw={"width_ratios": [1, 30], "wspace": 0.02}
    )
    strip = np.array([to_rgb(CLASS_COLOURS[c]) for c in by_rank["class"]]).reshape(n_units, 1, 3)
    ax_c.imshow(strip, aspect="auto", extent=(0, 1, n_units, 0), interpolation="nearest")
    ax_c.set_xticks([])
    ax_c.set_ylabel("unit (E then I; each sorted by median lag to the tap)")
    image = ax_r.imshow(
        raster, aspect="auto", extent=extent, cmap="magma", vmin=0, vmax=1, interpolation="nearest"
    )
    for tap in data["raster_taps_s"]:
        ax_r.axvline(float(tap), color="w", lw=0.9, ls="--")
    for ax in (ax_c, ax_r):
        ax.axhline(n_e, color=POPULATION_COLOURS["E"], lw=1.2, ls="--")
    ax_r.text(extent[1], n_e / 2, " E", va="center", color=POPULATION_COLOURS["E"])
    ax_r.text(extent[1], (n_e + n_units) / 2, " I", va="center", color=POPULATION_COLOURS["I"])
    ax_r.set_xlabel("time in the analysed pulse-free drive (s); dashed: taps")
    counts = by_rank["class"].value_counts()
    legend = [
        Patch(color=c, label=f"{k} ({int(counts.get(k, 0))})")
        for k, c in CLASS_COLOURS.items()
        if counts.get(k, 0)
    ]
    ax_r.legend(handles=legend, loc="upper left", bbox_to_anchor=(1.04, 1), fontsize=7)
    cbar = fig.colorbar(image, ax=[ax_c, ax_r], location="bottom", fraction=0.05, pad=0.12)
    cbar.set_label("normalised rate")
    ax_r.set_title(f"sorted firing rates at P = {_tempo_label(period)}", fontsize=10, loc="left")
    save(fig, path)


def plot_pca(data: dict[str, np.ndarray], path: str) -> None:
    """3-D PCA orbits per tempo (one PCA for all tempos), black dots at taps."""
    proj = data["pca_proj"].astype(np.float32)
    taps = data["pca_taps"].astype(np.float32)
    ratio = data["pca_explained_variance_ratio"]
    if proj.shape[2] < 3:
        raise ValueError("plot_pca needs at least three components")
    periods = data["periods_s"]
    colours = _colours_by_tempo(periods)
    fig = plt.figure(figsize=(7, 6))
    ax = fig.add_subplot(projection="3d")
    for k in np.argsort(-periods):
        xyz = proj[k][np.all(np.isfinite(proj[k]), axis=1)]
        ax.plot(*xyz[:, :3].T, color=colours[k], lw=1.0, label=_tempo_label(float(periods[k])))
        tp = taps[k][np.all(np.isfinite(taps[k]), axis=1)]
        ax.scatter(*tp[:, :3].T, color="k", s=8, depthshade=False)
    for i, setter in enumerate((ax.set_xlabel, ax.set_ylabel, ax.set_zlabel)):
        setter(f"PC{i + 1} ({100 * ratio[i]:.1f} %)")
    ax.legend(fontsize=7, loc="upper left", frameon=False)
    ax.set_title(
        f"PCA of normalised rates, all tempos ({100 * ratio[:3].sum():.1f} % in PC1-3); • taps",
        fontsize=10,
    )
    save(fig, path)


def plot_cycle_lengths(data: dict[str, np.ndarray], cycles: pd.DataFrame, path: str) -> None:
    """Per-cycle trajectory length vs tempo (mean +- SD) and SD vs mean."""
    periods = data["periods_s"]
    lengths = data["cycle_lengths"].astype(np.float64)
    colours = _colours_by_tempo(periods)
    if len(cycles) != len(periods) or not np.allclose(cycles["period_s"], periods, rtol=1e-9):
        raise ValueError("cycle table and figure data list different tempos")
    fig, (ax_l, ax_s) = plt.subplots(1, 2, figsize=(10, 4))
    rng = np.random.default_rng(0)  # jitter of the points only
    for k, period in enumerate(periods):
        freq = 1.0 / float(period)
        row = cycles.iloc[k]
        vals = lengths[k][np.isfinite(lengths[k])]
        ax_l.scatter(
            freq + 0.08 * rng.standard_normal(vals.size), vals, s=3, color=colours[k], alpha=0.3
        )
        ax_l.errorbar(
            freq, row["length_mean"], yerr=row["length_sd"], fmt="o", color="k", capsize=3, ms=4
        )
        ax_s.scatter(row["length_mean"], row["length_sd"], color=colours[k], s=40, zorder=3)
        ax_s.annotate(
            f"{freq:.1f} Hz", (row["length_mean"], row["length_sd"]), fontsize=7,
            xytext=(4, 3), textcoords="offset points",
        )  # fmt: skip
    ordered = cycles.sort_values("period_s", ascending=False)
    ax_s.plot(ordered["length_mean"], ordered["length_sd"], color="0.6", lw=0.8, zorder=1)
    ax_l.set_xlabel("tempo (Hz)")
    ax_l.set_ylabel("trajectory length per cycle (normalised-rate units)")
    ax_l.set_title("per cycle (dots) and mean ± SD", fontsize=9, loc="left")
    ax_s.set_xlabel("mean length per cycle")
    ax_s.set_ylabel("SD of length across cycles")
    ax_s.set_title("SD vs mean, full rate space", fontsize=9, loc="left")
    save(fig, path)


def fig_zrnn_dynamics_stage(
    fig_params: dict[str, Any],
    figure_data_npz_path: str,
    units_csv_path: str,
    cycles_csv_path: str,
    raster_png: str,
    pca_png: str,
    lengths_png: str,
) -> None:
    """Figures from the saved dynamics results only (nothing is recomputed here)."""
    set_dpi(int(fig_params["dpi"]))
    data = load_figure_data(figure_data_npz_path)
    plot_raster(data, pd.read_csv(units_csv_path), raster_png)
    plot_pca(data, pca_png)
    plot_cycle_lengths(data, pd.read_csv(cycles_csv_path), lengths_png)
