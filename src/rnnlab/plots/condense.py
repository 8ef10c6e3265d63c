"""Figures of the condense study; they only read the stages' files, never recompute."""

from __future__ import annotations

import csv
from typing import Any

import numpy as np

from rnnlab.io import read_json
from rnnlab.plots.style import POPULATION_COLOURS, plt, save, set_dpi, tempo_colours

METHOD_COLOURS = {
    "random": "#7f8c8d",
    "pair_merge": "#c0392b",
    "ls_prune": "#2471a3",
    "svd": "#27ae60",
    "iterative_merge": "#8e44ad",
    "original": POPULATION_COLOURS["output"],
}
CLASS_MARKERS = {"scaling": "o", "ramp": "s", "non-scaling": "^", "failed": "x"}


def _read_csv(path: str) -> dict[str, np.ndarray]:
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    out: dict[str, np.ndarray] = {}
    for key in rows[0] if rows else []:
        vals = [r[key] for r in rows]
        try:
            out[key] = np.array([float(v) if v not in ("", "None") else np.nan for v in vals])
        except ValueError:
            out[key] = np.array(vals)
    return out


def _axis_label(method: str) -> str:
    return "rank of W_rec kept" if method == "svd" else "units kept"


def fig_performance(methods: list[str], curves: list[str], metrics: list[str], path: str) -> None:
    """Task error vs units (rank for SVD), before and after fine-tuning, per method."""
    fig, axes = plt.subplots(1, len(methods), figsize=(3.2 * len(methods), 3.2), squeeze=False)
    for ax, method, cpath, mpath in zip(axes[0], methods, curves, metrics, strict=True):
        c, m = _read_csv(cpath), read_json(mpath)
        col = METHOD_COLOURS.get(method, "k")
        if "size" in c:
            ax.plot(c["size"], c["error_before"], "--o", color=col, ms=3, label="before fine-tune")
            ax.plot(c["size"], c["error_after"], "-o", color=col, ms=4, label="after fine-tune")
        ax.axhline(m["original_task_error"], color="k", lw=1, label="original")
        ax.axhline(m["threshold_error"], color="k", lw=1, ls=":", label="10 % tolerance")
        s = m["smallest_units_within_10pct"]
        ax.set_title(f"{method}\nsmallest within: {s}; scales: {m['still_scales']}", fontsize=8)
        ax.set_yscale("log")
        ax.set_xlabel(_axis_label(method))
        ax.invert_xaxis()
    axes[0][0].set_ylabel("task error (MARE of produced interval)")
    axes[0][0].legend(fontsize=6)
    fig.tight_layout()
    save(fig, path)


def fig_similarity(
    methods: list[str], curves: list[str], path: str, baseline: dict | None = None
) -> None:
    """Linear CKA and angular Procrustes distance to the original vs size; grey band: a
    network of the original size trained from scratch with another seed (if available)."""
    fig, axes = plt.subplots(1, 2, figsize=(8.5, 3.4))
    if baseline:
        for ax, key in zip(axes, ("cka", "procrustes"), strict=True):
            ax.axhline(
                baseline[key], color="#999999", lw=3, alpha=0.6, label="other seed, same size"
            )
    for method, cpath in zip(methods, curves, strict=True):
        c = _read_csv(cpath)
        if "size" not in c:
            continue
        col = METHOD_COLOURS.get(method, "k")
        for ax, key in zip(axes, ("cka", "procrustes"), strict=True):
            ax.plot(c["size"], c[f"{key}_after"], "-o", color=col, ms=3, label=f"{method}")
            ax.plot(c["size"], c[f"{key}_before"], "--", color=col, lw=0.8)
    axes[0].set_ylabel("linear CKA to original")
    axes[1].set_ylabel("Procrustes angular distance (rad)")
    for ax in axes:
        ax.set_xlabel("units kept (rank for svd)")
        ax.invert_xaxis()
    axes[0].legend(fontsize=7, title="solid: fine-tuned, dashed: before", title_fontsize=6)
    fig.tight_layout()
    save(fig, path)


def _load_npz(path: str) -> dict[str, np.ndarray]:
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def fig_ramps_pca(labels: list[str], arrays: list[str], metrics: list[dict], path: str) -> None:
    """Output ramps (aligned to Set) and top-2 PC trajectories per network."""
    n = len(labels)
    fig, axes = plt.subplots(n, 2, figsize=(7.5, 2.1 * n), squeeze=False)
    for row, (label, apath, m) in enumerate(zip(labels, arrays, metrics, strict=True)):
        a = _load_npz(apath)
        iv = a["interval_ms"]
        dt_ms = float(a["dt_ms"])
        cols = tempo_colours(len(iv))
        ax_o, ax_p = axes[row]
        for c in range(len(iv)):
            s = int(a["set_step"][c])
            y = a["output"][c, s:]
            t = np.arange(y.size) * dt_ms
            ax_o.plot(t, y, color=cols[c], lw=1, label=f"{iv[c]:.0f} ms")
            ax_o.axvline(iv[c], color=cols[c], lw=0.5, ls=":")
            tr = a["pca_traj"][c]
            ax_p.plot(tr[:, 0], tr[:, 1], color=cols[c], lw=1)
            ok = np.isfinite(tr[:, 0])
            if ok.any():
                ax_p.plot(tr[ok][-1, 0], tr[ok][-1, 1], "o", color=cols[c], ms=3)
        ax_o.axhline(1.0, color="k", lw=0.5)
        ax_o.set_ylim(-0.3, 1.6)
        ax_o.set_xlim(0, 1.5 * float(iv.max()))
        ax_o.set_ylabel("output (a.u.)")
        ax_p.set_ylabel("PC2 (a.u.)")
        cls = m.get("solution_class", "?")
        ax_o.set_title(f"{label}: {cls}", fontsize=8)
        ax_p.set_title(
            f"SI {m.get('si_mean', np.nan):.2f}, PR "
            f"{m.get('participation_ratio', np.nan):.1f}, lin "
            f"{m.get('linear_fraction', np.nan):.2f}",
            fontsize=8,
        )
    axes[-1][0].set_xlabel("time since Set (ms)")
    axes[-1][1].set_xlabel("PC1 (a.u.)")
    axes[0][0].legend(fontsize=5, ncol=2)
    fig.tight_layout()
    save(fig, path)


def fig_fixed_points(labels: list[str], arrays: list[str], path: str) -> None:
    """τ_eff at the terminal fixed point and the number of fixed points per cue level."""
    fig, axes = plt.subplots(1, 2, figsize=(8.5, 3.4))
    for label, apath in zip(labels, arrays, strict=True):
        a = _load_npz(apath)
        if "fp_cue" not in a:
            continue
        col = METHOD_COLOURS.get(label.split(" ")[0], "k")
        axes[0].plot(a["fp_cue"], a["fp_tau_terminal_ms"], "-o", color=col, ms=3, label=label)
        axes[1].plot(a["fp_cue"], a["fp_n_fixed"], "-o", color=col, ms=3, label=label)
    axes[0].set_xlabel("cue level")
    axes[0].set_ylabel(r"$\tau_\mathrm{eff}$ at terminal fixed point (ms)")
    axes[0].set_yscale("log")
    axes[1].set_xlabel("cue level")
    axes[1].set_ylabel("fixed points found (Set = 0)")
    axes[0].legend(fontsize=6)
    fig.tight_layout()
    save(fig, path)


def fig_size_sweep(sweep: dict[str, Any], table: str, path: str) -> None:
    """Battery measures of networks trained from scratch at each size, with their class."""
    c = _read_csv(table)
    fig, axes = plt.subplots(1, 4, figsize=(12, 3.0))
    keys = [
        ("task_error", "task error (MARE)"),
        ("si_mean", "SI (top PCs)"),
        ("linear_fraction", "linear-unit fraction"),
        ("participation_ratio", "participation ratio"),
    ]
    for ax, (key, lab) in zip(axes, keys, strict=True):
        if key not in c:
            continue
        ax.plot(c["units"], c[key], "-", color="k", lw=0.8)
        for u, v, cls in zip(c["units"], c[key], c["solution_class"], strict=True):
            ax.plot(u, v, CLASS_MARKERS.get(str(cls), "o"), color="k", ms=6)
        ax.set_xscale("log")
        ax.set_xlabel("units (trained from scratch)")
        ax.set_ylabel(lab)
    handles = [
        plt.Line2D([], [], marker=mk, ls="", color="k", label=cls)
        for cls, mk in CLASS_MARKERS.items()
    ]
    axes[0].legend(handles=handles, fontsize=6)
    fig.suptitle(f"class changes with size: {sweep.get('class_changes_with_size')}", fontsize=9)
    fig.tight_layout()
    save(fig, path)


def condense_figures(
    *, methods: list[str], inputs: dict[str, Any], outputs: dict[str, str], dpi: int
) -> None:
    """Draw every condense figure from the stage outputs."""
    set_dpi(dpi)
    metrics = [read_json(p) for p in inputs["metrics"]]
    fig_performance(
        methods, list(inputs["curves"]), list(inputs["metrics"]), outputs["performance"]
    )
    summary = read_json(inputs["summary"])
    fig_similarity(
        methods, list(inputs["curves"]), outputs["similarity"], summary["seed_baseline_same_size"]
    )
    original = read_json(inputs["original"])
    labels = ["original"] + [
        f"{m} ({x['selected_size']})" for m, x in zip(methods, metrics, strict=True)
    ]
    arrays = [inputs["original_arrays"], *inputs["arrays"]]
    sel = [original] + [x["selected"] for x in metrics]
    fig_ramps_pca(labels, arrays, sel, outputs["ramps_pca"])
    fig_fixed_points(labels, arrays, outputs["fixed_points"])
    fig_size_sweep(read_json(inputs["sweep"]), inputs["sweep_table"], outputs["size_sweep"])
