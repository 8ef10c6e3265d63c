"""Fig-3 analogue of the reduced Tap-E / Tap-I / Int-I model (rhythm.md §6).

Reads the ``reduced_model`` stage outputs only (metrics.json, period CSV, arrays npz) and
never recomputes: every number drawn is in those files. Differences from the original
``plot_fig3``: time axes in ms with ms data (the original labelled seconds as ms), fixed-point
branches drawn as continued lines (solid stable, dashed unstable), band edges from the
bisection (not a grid read-off), and one colour per population throughout.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from rnnlab.io import read_json
from rnnlab.plots.style import POPULATION_COLOURS, plt, save, set_dpi

POP_COLOURS = {
    "Tap-E": POPULATION_COLOURS["E"],
    "Tap-I": POPULATION_COLOURS["I"],
    "Int-I": "#7d3c98",
}
STABLE_COLOUR = "#111111"
UNSTABLE_COLOUR = "#7f8c8d"
EDGE_COLOUR = "#555555"


def _load(npz_path: str) -> dict[str, np.ndarray]:
    with np.load(npz_path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _edge_lines(ax: plt.Axes, metrics: dict[str, Any], low_only: bool = False) -> None:
    """Dashed verticals at the bisected band edges, labelled with their values."""
    ax.axvline(
        metrics["band_low"],
        color=EDGE_COLOUR,
        ls="--",
        lw=0.9,
        label=f"infinite-period onset (SNIC), I_cc = {metrics['band_low']:.4f}",
    )
    if not low_only:
        ax.axvline(
            metrics["band_high"],
            color=EDGE_COLOUR,
            ls="-.",
            lw=0.9,
            label=f"Hopf, I_cc = {metrics['band_high']:.4f}",
        )


def plot_timecourse(ax: plt.Axes, arrays: dict[str, np.ndarray], j: int) -> None:
    """x, y, z against time (ms) at demo cue ``j``, with the equilibrium reached (dotted)."""
    t_ms = arrays["timecourse_t_s"] * 1e3
    states = arrays["timecourse_states"][:, j, :]
    cue = float(arrays["timecourse_cues"][j])
    fp = arrays["timecourse_fixed_point"][j]
    for k, name in enumerate(arrays["populations"]):
        name = str(name)
        ax.plot(t_ms, states[:, k], color=POP_COLOURS[name], lw=1.3, label=name)
        if np.isfinite(fp[k]):
            ax.axhline(fp[k], color=POP_COLOURS[name], lw=0.7, ls=":")
    if bool(arrays["timecourse_oscillating"][j]):
        what = f"oscillation, period {float(arrays['timecourse_period_ms'][j]):.1f} ms"
    elif np.all(np.isfinite(fp)):
        what = "converges to a stable equilibrium (dotted)"
    else:
        what = "no sustained oscillation"
    ax.set_title(f"I_cc = {cue:g}: {what}", fontsize=9, loc="left")
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("activity (a.u.)")
    ax.set_xlim(t_ms[0], t_ms[-1])


def plot_period_curve(
    ax: plt.Axes, curve: pd.DataFrame, arrays: dict[str, np.ndarray], metrics: dict[str, Any]
) -> None:
    """Period vs cue (log scale): the sweep, long runs just above the SNIC, contract cues."""
    osc = curve["oscillating"].astype(str).str.lower().isin(["true", "1"])
    ax.plot(
        curve["i_cc"][osc],
        curve["period_ms"][osc],
        color=POP_COLOURS["Int-I"],
        lw=1.5,
        label="period of z (mean inter-peak interval)",
    )
    near = np.isfinite(arrays["divergence_period_ms"])
    ax.plot(
        metrics["band_low"] + arrays["divergence_offsets"][near],
        arrays["divergence_period_ms"][near],
        "o",
        mfc="none",
        color=POP_COLOURS["Int-I"],
        ms=4,
        label=f"long runs just above the edge (T ∝ ΔI^{metrics['lower_edge_period_exponent']:.2f})",
    )
    for cue in (0.5, 1.0):
        period = metrics.get(f"period_ms_at_{cue}")
        if period is not None:
            ax.plot([cue], [period], "o", color="k", ms=4, zorder=3)
            ax.annotate(
                f"{period:.1f} ms", (cue, period), textcoords="offset points", xytext=(-10, 8)
            )
    _edge_lines(ax, metrics, low_only=True)
    ax.set_yscale("log")
    ax.set_ylim(40, 5000)
    ax.set_xlim(float(metrics["band_low"]) - 0.03, float(curve["i_cc"].max()) + 0.03)
    ax.set_xlabel("context cue I_cc (a.u.)")
    ax.set_ylabel("period (ms, log scale)")
    ax.set_title("period vs cue (→ ∞ at the lower edge)", fontsize=9, loc="left")
    ax.legend(frameon=False, fontsize=7, loc="upper right")


def _branch_line(i_cc: np.ndarray, z: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, ...]:
    """A branch's z with NaN where ``mask`` is false, so lines break at stability changes."""
    order = np.argsort(i_cc)
    return i_cc[order], np.where(mask[order], z[order], np.nan)


def plot_bifurcation(ax: plt.Axes, arrays: dict[str, np.ndarray], metrics: dict[str, Any]) -> None:
    """z of the equilibria (solid stable, dashed unstable) and of the cycle's max/min."""
    fp_i, fp_z = arrays["fp_i_cc"], arrays["fp_state"][:, 2]
    stable, branch = arrays["fp_stable"], arrays["fp_branch"]
    first_s = first_u = True
    for b in np.unique(branch):
        sel = branch == b
        for want, style in ((True, "-"), (False, "--")):
            x, y = _branch_line(fp_i[sel], fp_z[sel], stable[sel] == want)
            if np.all(np.isnan(y)):
                continue
            label = None
            if want and first_s:
                label, first_s = "stable equilibrium", False
            elif not want and first_u:
                label, first_u = "unstable equilibrium", False
            ax.plot(
                x,
                y,
                style,
                color=STABLE_COLOUR if want else UNSTABLE_COLOUR,
                lw=1.4 if want else 1.0,
                label=label,
            )
    osc = arrays["bif_oscillating"]
    for key, label in (("bif_z_max", "limit cycle max / min of z"), ("bif_z_min", None)):
        ax.plot(
            arrays["bif_i_cc"][osc],
            arrays[key][osc],
            ".",
            ms=2.5,
            color=POP_COLOURS["Int-I"],
            label=label,
        )
    _edge_lines(ax, metrics)
    ax.set_xlabel("context cue I_cc (a.u.)")
    ax.set_ylabel("Int-I z (a.u.)")
    ax.set_xlim(float(arrays["bif_i_cc"].min()), float(arrays["bif_i_cc"].max()))
    ax.set_title("bifurcation diagram of z", fontsize=9, loc="left")
    ax.legend(frameon=False, fontsize=7, loc="lower left")


def plot_cycles(ax: plt.Axes, arrays: dict[str, np.ndarray]) -> None:
    """Last full cycle in the (Tap-E, Int-I) plane per demo cue; the Hopf equilibrium starred."""
    cues = arrays["cycle_cues"]
    colours = plt.get_cmap("viridis")(np.linspace(0.0, 0.85, len(cues)))
    for j, cue in enumerate(cues):
        cyc = arrays["cycle_states"][j]
        ok = np.all(np.isfinite(cyc), axis=1)
        if not ok.any():
            continue
        period = float(arrays["cycle_period_ms"][j])
        ax.plot(
            cyc[ok, 0],
            cyc[ok, 2],
            color=colours[j],
            lw=1.3,
            label=f"I_cc = {cue:g} ({period:.0f} ms)",
        )
    hopf = arrays["hopf_state"]
    ax.plot(hopf[0], hopf[2], "*", color="k", ms=9, label="equilibrium at the Hopf point")
    ax.set_xlabel("Tap-E x (a.u.)")
    ax.set_ylabel("Int-I z (a.u.)")
    ax.set_title("limit cycles shrink toward the Hopf point", fontsize=9, loc="left")
    ax.legend(frameon=False, fontsize=7, loc="best")


def fig_reduced_model_stage(
    fig_params: dict[str, Any],
    metrics_path: str,
    curve_csv_path: str,
    arrays_npz_path: str,
    png_path: str,
) -> None:
    """2 × 3 Fig-3 analogue from the stage's files (nothing is recomputed here)."""
    set_dpi(int(fig_params["dpi"]))
    metrics = read_json(metrics_path)
    curve = pd.read_csv(curve_csv_path)
    arrays = _load(arrays_npz_path)
    fig, axes = plt.subplots(2, 3, figsize=(15, 8.5))
    n_demo = len(arrays["timecourse_cues"])
    for j in range(3):
        if j < n_demo:
            plot_timecourse(axes[0, j], arrays, j)
        else:
            axes[0, j].set_axis_off()
    axes[0, 0].legend(frameon=False, fontsize=8, loc="best")
    plot_period_curve(axes[1, 0], curve, arrays, metrics)
    plot_bifurcation(axes[1, 1], arrays, metrics)
    plot_cycles(axes[1, 2], arrays)
    fig.suptitle(
        "Reduced Tap-E / Tap-I / Int-I model: oscillation for "
        f"{metrics['band_low']:.3f} < I_cc < {metrics['band_high']:.3f}; "
        f"Hopf frequency {metrics['hopf_frequency_hz']:.1f} Hz"
    )
    fig.tight_layout()
    save(fig, png_path)
