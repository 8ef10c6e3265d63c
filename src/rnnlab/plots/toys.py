"""Figures and GIFs of the toy-circuit gallery (condense.md §4).

Reads only the ``toys_*`` stage outputs (metrics.json, CSVs, npz) and never re-simulates:
LIF f–I curves, Mg block, voltage traces and a raster; the two-unit phase plane with its
eigenvectors; the Rubin et al. 2009 population outputs per drive condition; ring-attractor
bump profiles against the closed form and the moving bump as a heat map. Animations use
matplotlib's Pillow writer with few frames at low dpi.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import animation

from rnnlab.io import read_json
from rnnlab.plots.style import POPULATION_COLOURS, plt, save, set_dpi

RUBIN_COLOURS = {
    "pre-I": "#111111",
    "early-I": POPULATION_COLOURS["E"],
    "post-I": POPULATION_COLOURS["I"],
    "aug-E": POPULATION_COLOURS["pulses"],
}
CONDITION_COLOURS = {
    "AMPA": POPULATION_COLOURS["E"],
    "AMPA+NMDA": "#7d3c98",
    "AMPA+NMDA+GABA": POPULATION_COLOURS["I"],
}
CELL_COLOURS = {"pyramidal": POPULATION_COLOURS["E"], "interneuron": POPULATION_COLOURS["I"]}
MODE_COLOURS = ("#c0392b", "#2471a3")
STIMULUS_COLOUR = POPULATION_COLOURS["cue"]


def _load(path: str) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


# ---------------------------------------------------------------- LIF


def fig_lif(metrics: Mapping[str, Any], fi: pd.DataFrame, a: Mapping[str, np.ndarray], png: str):
    """f–I vs analytic, Mg block, raster; one voltage trace per synaptic condition."""
    fig, axes = plt.subplots(2, 3, figsize=(15, 7.5))
    ax = axes[0, 0]
    for cell, df in fi.groupby("cell"):
        c = CELL_COLOURS.get(str(cell), "k")
        ax.plot(df["current_na"], df["analytic_rate_hz"], "-", color=c, label=f"{cell}: analytic")
        ax.plot(
            df["current_na"],
            df["rate_hz"],
            "o",
            ms=3.5,
            mfc="none",
            color=c,
            label=f"{cell}: simulated",
        )
    ax.set_xlabel("constant current (nA)")
    ax.set_ylabel("firing rate (Hz)")
    ax.set_title(f"f–I curve (max rel. error {metrics['fI_max_rel_error']:.1e})")
    ax.legend(frameon=False, fontsize=8)

    ax = axes[0, 1]
    ax.plot(a["v_grid_mv"], a["mg_block"], color="#7d3c98")
    for v, b in metrics["mg_block"].items():
        ax.plot(float(v), b, "o", color="#7d3c98", ms=4)
    ax.set_xlabel("membrane potential V (mV)")
    ax.set_ylabel("NMDA Mg²⁺ unblocked fraction B(V)")
    ax.set_title("Mg²⁺ block, [Mg] = 1 mM")

    ax = axes[0, 2]
    conds = [str(c) for c in a["conditions"]]
    n = int(a["n_per_condition"])
    nid, ts = a["spike_neuron"], a["spike_time_ms"]
    t = a["t_ms"]
    rates = metrics["synaptic"]["rate_hz"]
    for k, cond in enumerate(conds):
        sel = (nid >= k * n) & (nid < (k + 1) * n)
        ax.scatter(
            ts[sel],
            nid[sel],
            s=4,
            marker="|",
            color=CONDITION_COLOURS.get(cond, "k"),
            label=f"{cond}: {rates[cond]:.1f} Hz",
        )
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("neuron")
    ax.set_xlim(0, float(t[-1]))
    ax.set_ylim(-1, 3 * n * 1.3)  # room for the legend
    ax.set_title("raster, Poisson synaptic input (mean rate)")
    ax.legend(frameon=False, fontsize=8, loc="upper right", markerscale=3)

    v_th = float(a["v_th_mv"])
    for k, cond in enumerate(conds):
        ax = axes[1, k]
        colour = CONDITION_COLOURS.get(cond, "k")
        ax.plot(t, a["v_mv"][k], lw=0.7, color=colour)
        spk = ts[nid == k * n]
        ax.vlines(spk, v_th, 0.0, color=colour, lw=0.7, label="spike")
        ax.axhline(v_th, color="grey", ls=":", lw=0.8, label="threshold")
        ax.set_ylim(-75, 5)
        ax.set_xlabel("time (ms)")
        ax.set_ylabel("V (mV)")
        ax.set_title(f"{cond}: one neuron ({spk.size} spikes)")
        ax.legend(frameon=False, fontsize=7, loc="lower right")
    fig.suptitle("Leaky integrate-and-fire neuron with AMPA, NMDA and GABA_A synapses")
    fig.tight_layout()
    save(fig, png)


# ---------------------------------------------------------------- two-unit network


def _phase_plane_background(ax, a: Mapping[str, np.ndarray], lim: tuple[float, ...]) -> None:
    """Flow field, nullclines, eigenvector lines through x* and the fixed point."""
    w, i_in, x_star, vec = a["w"], a["input"], a["fixed_point"], a["eigenvectors"]
    x0, x1, y0, y1 = lim
    gx, gy = np.meshgrid(np.linspace(x0, x1, 17), np.linspace(y0, y1, 17))
    pts = np.stack([gx.ravel(), gy.ravel()])
    vel = -pts + w @ pts + i_in[:, None]
    ax.quiver(
        gx,
        gy,
        vel[0].reshape(gx.shape),
        vel[1].reshape(gx.shape),
        color="#bbbbbb",
        angles="xy",
        width=0.003,
    )
    xs = np.linspace(x0, x1, 50)
    # nullclines: (w00 - 1) x + w01 y + i0 = 0 and w10 x + (w11 - 1) y + i1 = 0
    if abs(w[0, 1]) > 1e-12:
        ax.plot(
            xs,
            -((w[0, 0] - 1) * xs + i_in[0]) / w[0, 1],
            "--",
            color="#555555",
            lw=0.8,
            label="dx₁/dt = 0",
        )
    if abs(w[1, 1] - 1) > 1e-12:
        ax.plot(
            xs,
            -(w[1, 0] * xs + i_in[1]) / (w[1, 1] - 1),
            ":",
            color="#555555",
            lw=0.8,
            label="dx₂/dt = 0",
        )
    span = max(x1 - x0, y1 - y0)
    for k in range(2):
        v = vec[:, k] * span
        ax.plot(
            [x_star[0] - v[0], x_star[0] + v[0]],
            [x_star[1] - v[1], x_star[1] + v[1]],
            color=MODE_COLOURS[k],
            lw=1.5,
            label=f"eigenvector {k + 1}: λ = {a['eigenvalues'][k]:.2f}, "
            f"τ/(1−λ) = {1e3 * a['tau_k_s'][k]:.1f} ms",
        )
    ax.plot(*x_star, "k*", ms=10, label="fixed point x*")
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_xlabel("unit 1 activity x₁")
    ax.set_ylabel("unit 2 activity x₂")
    ax.set_aspect("equal", adjustable="box")


def fig_two_unit(metrics: Mapping[str, Any], a: Mapping[str, np.ndarray], png: str) -> None:
    """Phase plane with eigenvectors and trajectories; mode decay vs the closed form."""
    fig, axes = plt.subplots(1, 3, figsize=(16, 5))
    fan = a["fan_x"]
    lim = _limits(np.concatenate([fan.reshape(-1, 2), a["fixed_point"][None]]), pad=0.3)
    ax = axes[0]
    _phase_plane_background(ax, a, lim)
    for traj in fan:
        ax.plot(traj[:, 0], traj[:, 1], color="#111111", lw=0.9)
        ax.plot(*traj[0], "o", color="#111111", ms=3)
    ax.set_title("phase plane: trajectories bend onto the slow eigenvector")
    ax.legend(frameon=False, fontsize=7, loc="lower right")

    ax = axes[1]
    t_ms = 1e3 * a["step_t_s"]
    for k, name in enumerate(("x₁", "x₂")):
        ax.plot(
            t_ms, a["step_x"][:, k], color=MODE_COLOURS[k], lw=2, alpha=0.6, label=f"{name}: RK4"
        )
        ax.plot(t_ms, a["step_exact"][:, k], "k--", lw=0.8, label="closed form" if k == 0 else None)
    ax.set_xlabel("time after input onset (ms)")
    ax.set_ylabel("activity")
    ax.set_title("step response from rest")
    ax.legend(frameon=False, fontsize=8)

    ax = axes[2]
    vec = a["eigenvectors"]
    coords = np.linalg.solve(vec, (a["step_x"] - a["fixed_point"]).T).T
    for k in range(2):
        c = np.abs(coords[:, k])
        ax.semilogy(
            t_ms,
            c,
            color=MODE_COLOURS[k],
            lw=2,
            alpha=0.6,
            label=f"mode {k + 1}: fitted τ = {1e3 * metrics['tau_fitted_s'][k]:.2f} ms",
        )
        ax.semilogy(
            t_ms,
            c[0] * np.exp(-a["step_t_s"] / a["tau_k_s"][k]),
            "k--",
            lw=0.8,
            label=f"τ/(1−λ) = {1e3 * a['tau_k_s'][k]:.2f} ms",
        )
    ax.set_ylim(1e-6 * np.abs(coords[0]).max(), 2 * np.abs(coords[0]).max())
    ax.set_xlabel("time after input onset (ms)")
    ax.set_ylabel("|distance from x* along the mode|")
    ax.set_title("each mode decays with its own time constant")
    ax.legend(frameon=False, fontsize=8)
    fig.suptitle(
        "Two-unit linear network τ dx/dt = −x + Wx + I "
        f"(max rel. τ error {metrics['tau_max_rel_error']:.1e})"
    )
    fig.tight_layout()
    save(fig, png)


def _limits(points: np.ndarray, pad: float) -> tuple[float, float, float, float]:
    lo, hi = points.min(axis=0), points.max(axis=0)
    span = np.maximum(hi - lo, 1e-9)
    return (
        lo[0] - pad * span[0],
        hi[0] + pad * span[0],
        lo[1] - pad * span[1],
        hi[1] + pad * span[1],
    )


def _frames(n_total: int, n_frames: int) -> np.ndarray:
    return np.unique(np.linspace(0, n_total - 1, max(2, n_frames)).round().astype(int))


def gif_two_unit(a: Mapping[str, np.ndarray], fig_params: Mapping[str, Any], gif: str) -> None:
    """Pulse probe: the state's path in the phase plane (with the last pulse's direction) and
    the two units' time courses with a moving cursor."""
    x, u, t = a["pulse_x"], a["pulse_u"], a["pulse_t_s"]
    names = [str(n) for n in a["pulse_names"]]
    onsets = a["pulse_onsets_s"]
    frames = _frames(len(t), int(fig_params["gif_frames"]))
    m = 1.1 * max(float(np.abs(x).max()), 1e-9)
    fig, (ax, ax_t) = plt.subplots(1, 2, figsize=(9, 4), gridspec_kw={"width_ratios": [1, 1.4]})
    vec = a["eigenvectors"]
    for k in range(2):
        ax.plot(
            [-m * vec[0, k], m * vec[0, k]],
            [-m * vec[1, k], m * vec[1, k]],
            color=MODE_COLOURS[k],
            lw=1,
            label=f"eigvec {k + 1}: τ/(1−λ) = {1e3 * a['tau_k_s'][k]:.0f} ms",
        )
    (path,) = ax.plot([], [], color="#111111", lw=1)
    (dot,) = ax.plot([], [], "o", color="#111111", ms=5)
    (kick,) = ax.plot([], [], "-", color=STIMULUS_COLOUR, lw=2.5, label="last input pulse")
    ax.set_xlim(-m, m)
    ax.set_ylim(-m, m)
    ax.set_aspect("equal")
    ax.set_xlabel("unit 1 activity x₁")
    ax.set_ylabel("unit 2 activity x₂")
    ax.legend(frameon=False, fontsize=6, loc="lower left")
    t_ms = 1e3 * t
    for k, name in enumerate(("x₁", "x₂")):
        ax_t.plot(t_ms, x[:, k], color=MODE_COLOURS[k], lw=1, label=name)
    for on, name in zip(onsets, names, strict=True):
        ax_t.annotate(name, (1e3 * on, m * 0.95), fontsize=6, rotation=90, va="top")
    cursor = ax_t.axvline(0, color="grey", lw=0.8)
    ax_t.set_xlabel("time (ms)")
    ax_t.set_ylabel("activity")
    ax_t.set_ylim(-m, m)
    ax_t.legend(frameon=False, fontsize=7, loc="lower right")
    title = fig.suptitle("")

    def draw(i: int):
        path.set_data(x[: i + 1, 0], x[: i + 1, 1])
        dot.set_data([x[i, 0]], [x[i, 1]])
        given = np.flatnonzero(onsets <= t[i])
        if given.size:
            j = int(np.flatnonzero(np.abs(u[: i + 1]).sum(axis=1) > 0)[-1])
            d = u[j] / np.linalg.norm(u[j]) * 0.25 * m
            kick.set_data([x[i, 0], x[i, 0] + d[0]], [x[i, 1], x[i, 1] + d[1]])
            last = names[int(given[-1])]
        else:
            kick.set_data([], [])
            last = "none"
        cursor.set_xdata([t_ms[i], t_ms[i]])
        title.set_text(f"two-unit network, t = {t_ms[i]:.0f} ms, last pulse along {last}")
        return path, dot, kick, cursor, title

    anim = animation.FuncAnimation(fig, draw, frames=frames, blit=False)
    fig.tight_layout()
    _save_gif(anim, gif, fig_params)
    plt.close(fig)


def _save_gif(anim: animation.FuncAnimation, gif: str, fig_params: Mapping[str, Any]) -> None:
    from pathlib import Path

    Path(gif).parent.mkdir(parents=True, exist_ok=True)
    writer = animation.PillowWriter(fps=int(fig_params["gif_fps"]))
    anim.save(gif, writer=writer, dpi=int(fig_params["gif_dpi"]))


# ---------------------------------------------------------------- Rubin et al. 2009


def fig_rubin(metrics: Mapping[str, Any], a: Mapping[str, np.ndarray], png: str) -> None:
    """Population outputs over the kept window, one panel per drive condition."""
    conds = [str(c) for c in a["conditions"]]
    pops = [str(p) for p in a["populations"]]
    fig, axes = plt.subplots(
        len(conds), 1, figsize=(11, 1.9 * len(conds) + 0.8), sharex=True, squeeze=False
    )
    for ax, cond in zip(axes[:, 0], conds, strict=True):
        t, out = a[f"{cond}/t_s"], a[f"{cond}/output"]
        for j, pop in enumerate(pops):
            ax.plot(t, out[:, j], color=RUBIN_COLOURS.get(pop, "k"), lw=1.2, label=pop)
        m = metrics["conditions"][cond]
        period = f"{m['period_s']:.3f} s" if m["period_s"] else "no rhythm"
        ref = f" (reference {m['reference_period_s']:.3f} s)" if m["reference_period_s"] else ""
        drives = ", ".join(f"{d:g}" for d in m["drives"])
        ax.set_title(f"{cond}: D = ({drives}); period {period}{ref}", fontsize=9, loc="left")
        ax.set_ylabel("output f(V)")
        ax.set_ylim(-0.03, 1.0)
    axes[0, 0].legend(frameon=False, fontsize=8, ncol=4, loc="upper right")
    axes[-1, 0].set_xlabel("time (s, last part of the run)")
    ph = metrics["phases"]
    fig.suptitle(
        "Rubin et al. 2009 respiratory CPG: inspiration (pre-I/early-I "
        f"{ph['early_i_active_s']:.2f} s), post-I peak {ph['post_i_peak_time_s']:.2f} s, "
        f"aug-E peak {ph['aug_e_peak_time_s']:.2f} s after onset"
    )
    fig.tight_layout()
    save(fig, png)


# ---------------------------------------------------------------- ring attractor


def fig_ring(
    metrics: Mapping[str, Any], bumps: pd.DataFrame, a: Mapping[str, np.ndarray], png: str
):
    """Bump profiles vs the closed form, moving-bump heat map, lag vs speed."""
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8), gridspec_kw={"width_ratios": [1, 1.4, 0.8]})
    ax = axes[0]
    theta = a["theta_rad"]
    cmap = plt.get_cmap("viridis")
    for k, (w1, prof) in enumerate(zip(a["w1_values"], a["bump_profiles"], strict=True)):
        row = bumps.iloc[k]
        colour = cmap(k / max(1, len(a["w1_values"]) - 1) * 0.9)
        if row["outcome"] == "runaway":
            ax.plot([], [], color=colour, label=f"w1 = {w1:g}: runaway")
            continue
        centre = theta[int(np.argmax(prof))]
        shift = np.angle(np.exp(1j * (theta - centre)))
        order = np.argsort(shift)
        label = f"w1 = {w1:g}: {row['outcome']}"
        if row["outcome"] == "bump":
            label += (
                f", θc {row['half_width_rad']:.3f} (theory {row['half_width_closed_form_rad']:.3f})"
            )
            tc, peak = row["half_width_closed_form_rad"], row["peak_closed_form"]
            if np.isfinite(peak):
                amp = peak / (1 - np.cos(tc))
                ax.plot(
                    shift[order],
                    amp * np.maximum(np.cos(shift[order]) - np.cos(tc), 0),
                    "k--",
                    lw=0.7,
                )
        ax.plot(shift[order], prof[order], "o", ms=2.5, color=colour, label=label)
    ax.plot([], [], "k--", lw=0.7, label="closed form A[cos θ − cos θc]₊")
    top = float(np.nanmax(a["bump_profiles"])) if np.isfinite(a["bump_profiles"]).any() else 1.0
    ax.set_ylim(-0.05 * top, 1.5 * top)  # room for the legend
    ax.set_xlabel("θ − bump centre (rad)")
    ax.set_ylabel("rate r (a.u.)")
    ax.set_title("stationary bumps (no tuned input)")
    ax.legend(frameon=False, fontsize=6.5, loc="upper left")

    ax = axes[1]
    t = a["moving_t_tau"]
    im = ax.imshow(
        a["moving_rates"].T,
        aspect="auto",
        origin="lower",
        cmap="magma",
        extent=(t[0], t[-1], 0, 2 * np.pi),
    )
    stim = np.where(
        np.abs(np.diff(a["moving_stimulus_rad"], prepend=np.nan)) > np.pi,
        np.nan,
        a["moving_stimulus_rad"],
    )
    ax.plot(t, stim, color=STIMULUS_COLOUR, lw=1, ls="--", label="input direction θ0(t)")
    ax.axvline(float(a["settle_tau"]), color="white", lw=0.6, ls=":")
    fig.colorbar(im, ax=ax, label="rate r (a.u.)")
    ax.set_xlabel("time (τ)")
    ax.set_ylabel("preferred direction θ (rad)")
    ax.set_title(f"bump following an input rotating at {float(a['moving_speed']):g} rad/τ")
    ax.legend(frameon=False, fontsize=8, loc="upper left", labelcolor="white")

    ax = axes[2]
    ax.plot(a["speeds"], a["lags_rad"], "o-", color="#111111")
    ax.set_xlabel("input speed (rad/τ)")
    ax.set_ylabel("steady lag behind the input (rad)")
    ax.set_title("tracking lag grows with speed")
    ax.set_xlim(0, 1.1 * float(a["speeds"].max()))
    ax.set_ylim(0, 1.1 * float(max(a["lags_rad"].max(), 1e-3)))
    fig.suptitle(
        "Ring attractor W = (w0 + w1 cos Δθ)/N: bump iff w1 > 2, "
        f"max |θc − theory| = {metrics['half_width_max_abs_error_rad']:.1e} rad"
    )
    fig.tight_layout()
    save(fig, png)


def gif_ring(a: Mapping[str, np.ndarray], fig_params: Mapping[str, Any], gif: str) -> None:
    """The moving bump: rate profile over θ and the input direction, frame by frame."""
    t, rates, stim = a["moving_t_tau"], a["moving_rates"], a["moving_stimulus_rad"]
    theta = a["theta_rad"]
    frames = _frames(len(t), int(fig_params["gif_frames"]))
    fig, ax = plt.subplots(figsize=(6, 3.4))
    (line,) = ax.plot([], [], "o-", ms=2, color=POPULATION_COLOURS["E"], label="rates")
    marker = ax.axvline(0, color=STIMULUS_COLOUR, ls="--", label="input direction")
    ax.set_xlim(0, 2 * np.pi)
    ax.set_ylim(0, 1.1 * float(rates.max()))
    ax.set_xlabel("preferred direction θ (rad)")
    ax.set_ylabel("rate r (a.u.)")
    ax.legend(frameon=False, fontsize=8, loc="upper right")
    title = ax.set_title("")

    def draw(i: int):
        line.set_data(theta, rates[i])
        marker.set_xdata([stim[i], stim[i]])
        title.set_text(f"moving bump, t = {t[i]:.0f} τ")
        return line, marker, title

    anim = animation.FuncAnimation(fig, draw, frames=frames, blit=False)
    fig.tight_layout()
    _save_gif(anim, gif, fig_params)
    plt.close(fig)


# ---------------------------------------------------------------- stage


def fig_lif_stage(
    fig_params: Mapping[str, Any],
    metrics_path: str,
    fi_csv_path: str,
    traces_npz_path: str,
    png_path: str,
) -> None:
    """Rule ``fig_toys_lif``: the LIF figure from the ``toys_lif`` files."""
    set_dpi(int(fig_params["dpi"]))
    fig_lif(read_json(metrics_path), pd.read_csv(fi_csv_path), _load(traces_npz_path), png_path)


def fig_two_unit_stage(
    fig_params: Mapping[str, Any],
    metrics_path: str,
    arrays_npz_path: str,
    png_path: str,
    gif_path: str,
) -> None:
    """Rule ``fig_toys_two_unit``: phase-plane figure and the pulse-probe GIF."""
    set_dpi(int(fig_params["dpi"]))
    arrays = _load(arrays_npz_path)
    fig_two_unit(read_json(metrics_path), arrays, png_path)
    gif_two_unit(arrays, fig_params, gif_path)


def fig_rubin_stage(
    fig_params: Mapping[str, Any], metrics_path: str, traces_npz_path: str, png_path: str
) -> None:
    """Rule ``fig_toys_rubin``: population outputs per drive condition."""
    set_dpi(int(fig_params["dpi"]))
    fig_rubin(read_json(metrics_path), _load(traces_npz_path), png_path)


def fig_ring_stage(
    fig_params: Mapping[str, Any],
    metrics_path: str,
    bumps_csv_path: str,
    arrays_npz_path: str,
    png_path: str,
    gif_path: str,
) -> None:
    """Rule ``fig_toys_ring``: bump profiles, moving-bump heat map and its GIF."""
    set_dpi(int(fig_params["dpi"]))
    arrays = _load(arrays_npz_path)
    fig_ring(read_json(metrics_path), pd.read_csv(bumps_csv_path), arrays, png_path)
    gif_ring(arrays, fig_params, gif_path)
