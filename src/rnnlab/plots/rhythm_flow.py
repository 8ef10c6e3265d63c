"""Fig-5 analogue: ZRNN flow fields in the PC1–PC2 plane, one panel per cue (rhythm.md §7).

Reads the files of the ``zrnn_flow`` stage only (figure npz, regimes CSV, metrics JSON);
nothing is recomputed. Per panel: speed ‖dx/dt‖ in the full state space as a heat map
(log colour scale shared by all panels, 1/s), streamlines of the projected field, the
noise-free trajectory from x = 0 in red, fixed points by class (filled = stable, open =
unstable) and slow points (×).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from rnnlab.io import read_json
from rnnlab.plots.style import plt, save, set_dpi

# (marker, filled) per fixed-point class: filled = stable, open = unstable
CLASS_MARKERS: dict[str, tuple[str, bool]] = {
    "stable node": ("o", True),
    "stable focus": ("D", True),
    "unstable node": ("o", False),
    "unstable focus": ("D", False),
    "saddle": ("^", False),
    "marginal": ("s", False),
}
TRAJECTORY_COLOUR = "#d62728"
FP_COLOUR = "k"
SPEED_CMAP = "Blues"
SPEED_DECADES = 4.0  # colour scale spans at most this many decades below the top speed


def load_flow_data(path: str) -> dict[str, np.ndarray]:
    """All arrays of the flow npz (no pickles)."""
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _cue_label(cue: float) -> str:
    return f"{cue:g}"


def speed_norm(speed: np.ndarray) -> LogNorm:
    """One log colour scale for every panel: top speed down ``SPEED_DECADES`` decades."""
    positive = speed[np.isfinite(speed) & (speed > 0)]
    if positive.size == 0:
        return LogNorm(vmin=1e-3, vmax=1.0)
    vmax = float(positive.max())
    return LogNorm(vmin=max(float(positive.min()), vmax * 10.0**-SPEED_DECADES), vmax=vmax)


def _check_consistent(data: dict[str, np.ndarray], regimes: pd.DataFrame, metrics: dict) -> None:
    """The three files must describe the same cues and regimes."""
    cues = data["cues"]
    names = data["regime_names"]
    if len(regimes) != cues.size or not np.allclose(regimes["cue"], cues, rtol=0, atol=1e-12):
        raise ValueError("regimes CSV and flow npz list different cues")
    npz_regimes = [str(names[c]) for c in data["regime_code"]]
    if list(regimes["regime"]) != npz_regimes:
        raise ValueError("regimes CSV and flow npz disagree on the regimes")
    if [float(c) for c in metrics["cues"]] != [float(c) for c in cues]:
        raise ValueError("metrics JSON and flow npz list different cues")


def draw_flow(data: dict[str, np.ndarray], regimes: pd.DataFrame, metrics: dict) -> Figure:
    """The panel grid (one panel per cue, in the npz's order); returns the open figure."""
    _check_consistent(data, regimes, metrics)
    cues = data["cues"]
    n = cues.size
    ncols = min(n, 3 if n <= 9 else 4)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(3.6 * ncols + 1.2, 3.3 * nrows + 0.8), squeeze=False
    )
    ratio = data["pca_explained_variance_ratio"]
    norm = speed_norm(data["speed"])
    class_names = [str(c) for c in data["class_names"]]
    used: set[str] = set()
    mesh = None
    for i in range(nrows * ncols):
        ax = axes.flat[i]
        if i >= n:
            ax.set_axis_off()
            continue
        pc1, pc2 = data["pc1"][i], data["pc2"][i]
        speed = data["speed"][i].astype(np.float64)
        vel = data["velocity"][i].astype(np.float64)
        mesh = ax.pcolormesh(pc1, pc2, speed, cmap=SPEED_CMAP, norm=norm, shading="nearest")
        ax.streamplot(
            pc1, pc2, vel[..., 0], vel[..., 1], color="0.25", density=0.9, linewidth=0.6,
            arrowsize=0.7,
        )  # fmt: skip
        traj = data["trajectory"][i].astype(np.float64)
        traj = traj[np.isfinite(traj).all(-1)]
        ax.plot(traj[:, 0], traj[:, 1], color=TRAJECTORY_COLOUR, lw=1.1, label="trajectory")
        sel = data["fp_cue_index"] == i
        pts, codes = data["fp_pc"][sel], data["fp_class_code"][sel]
        for code in np.unique(codes):
            name = class_names[int(code)]
            marker, filled = CLASS_MARKERS[name]
            p = pts[codes == code]
            ax.scatter(
                p[:, 0], p[:, 1], marker=marker, s=46, zorder=5, linewidths=1.3,
                facecolors=FP_COLOUR if filled else "none", edgecolors=FP_COLOUR, label=name,
            )  # fmt: skip
            used.add(name)
        slow = data["slow_pc"][data["slow_cue_index"] == i]
        if slow.size:
            ax.scatter(slow[:, 0], slow[:, 1], marker="x", s=30, color="0.4", zorder=5)
            used.add("slow point")
        outside = (pts[:, 0] < pc1[0]) | (pts[:, 0] > pc1[-1])
        outside |= (pts[:, 1] < pc2[0]) | (pts[:, 1] > pc2[-1])
        if outside.any():
            ax.text(
                0.02, 0.02, f"{int(outside.sum())} fixed point(s) outside", fontsize=7,
                transform=ax.transAxes,
            )  # fmt: skip
        ax.set_xlim(pc1[0], pc1[-1])
        ax.set_ylim(pc2[0], pc2[-1])
        row = regimes.iloc[i]
        ax.set_title(f"cue = {_cue_label(float(cues[i]))} : {row['regime']}", fontsize=9)
        ax.set_xlabel(f"PC1 ({100 * ratio[0]:.1f} % var)", fontsize=8)
        ax.set_ylabel(f"PC2 ({100 * ratio[1]:.1f} % var)", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.xaxis.set_major_locator(MaxNLocator(5))
        ax.yaxis.set_major_locator(MaxNLocator(5))

    handles = [Line2D([], [], color=TRAJECTORY_COLOUR, lw=1.5, label="trajectory from x = 0")]
    for name in CLASS_MARKERS:
        if name in used:
            marker, filled = CLASS_MARKERS[name]
            handles.append(
                Line2D(
                    [],
                    [],
                    ls="",
                    marker=marker,
                    color=FP_COLOUR,
                    ms=6,
                    label=name,
                    markerfacecolor=FP_COLOUR if filled else "none",
                )  # fmt: skip
            )
    if "slow point" in used:
        handles.append(Line2D([], [], ls="", marker="x", color="0.4", label="slow point"))
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, frameon=False)
    fig.subplots_adjust(
        left=0.07, right=0.88, top=0.9, bottom=0.1 if nrows > 1 else 0.2, hspace=0.45, wspace=0.35
    )
    if mesh is not None:
        cbar = fig.colorbar(mesh, cax=fig.add_axes((0.9, 0.2, 0.015, 0.6)))
        cbar.set_label("speed ‖dx/dt‖, full state space (1/s; x in a.u.)")
    low, high = metrics.get("oscillating_cue_min"), metrics.get("oscillating_cue_max")
    band = "no cue oscillates" if low is None else f"limit cycle for cue in [{low:g}, {high:g}]"
    fig.suptitle(
        f"ZRNN flow in the PC1–PC2 plane through each trajectory's end (one PCA for all cues, "
        f"PC1+PC2 = {100 * ratio[:2].sum():.1f} % var); {band}",
        fontsize=10,
    )
    return fig


def fig_zrnn_flow_stage(
    fig_params: dict[str, Any],
    metrics_path: str,
    regimes_csv_path: str,
    flow_npz_path: str,
    png_path: str,
) -> None:
    """Figure from the saved ``zrnn_flow`` results only (nothing is recomputed here)."""
    set_dpi(int(fig_params["dpi"]))
    fig = draw_flow(
        load_flow_data(flow_npz_path), pd.read_csv(regimes_csv_path), read_json(metrics_path)
    )
    save(fig, png_path)
