"""Figures of the condense study; they only read the stages' files, never recompute.

Every figure shows all networks of ``condense.network_seeds``: methods keep their colour
(:data:`METHOD_COLOURS`) and networks theirs (:func:`network_colours`, by position in the
seed list) in every figure.
"""

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
NETWORK_PALETTE = (
    "#1b9e77",
    "#d95f02",
    "#7570b3",
    "#e7298a",
    "#66a61e",
    "#e6ab02",
    "#a6761d",
    "#666666",
)


def network_colours(nets: list[str]) -> dict[str, str]:
    """One colour per network seed, by its position in the seed list (cycles after 8)."""
    return {n: NETWORK_PALETTE[i % len(NETWORK_PALETTE)] for i, n in enumerate(nets)}


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


def fig_performance(
    methods: list[str],
    nets: list[str],
    curves: dict[tuple[str, str], str],
    metrics: dict[tuple[str, str], dict],
    aggregates: dict[str, dict],
    path: str,
) -> None:
    """Task error vs units (rank for SVD) per method, one colour per network: fine-tuned
    (solid) and before fine-tuning (dashed), each network's 10 % tolerance (dotted)."""
    colours = network_colours(nets)
    fig, axes = plt.subplots(1, len(methods), figsize=(3.2 * len(methods), 3.4), squeeze=False)
    for ax, method in zip(axes[0], methods, strict=True):
        for net in nets:
            c, m = _read_csv(curves[(net, method)]), metrics[(net, method)]
            col = colours[net]
            if "size" in c:
                ax.plot(c["size"], c["error_before"], "--", color=col, lw=0.8)
                ax.plot(c["size"], c["error_after"], "-o", color=col, ms=3, label=f"net {net}")
            ax.axhline(m["threshold_error"], color=col, lw=0.8, ls=":")
        agg = aggregates[method]
        med = agg["smallest_units_within_10pct"]
        ax.set_title(
            f"{method}\nmedian smallest within: {'never' if med is None else med}; "
            f"scales {agg['n_still_scales']}/{agg['n_networks']}",
            fontsize=8,
        )
        ax.set_yscale("log")
        ax.set_xlabel(_axis_label(method))
        ax.invert_xaxis()
    axes[0][0].set_ylabel("task error (MARE of produced interval)")
    axes[0][0].legend(
        fontsize=6, title="solid: fine-tuned, dashed: before, dotted: tolerance", title_fontsize=5
    )
    fig.tight_layout()
    save(fig, path)


def fig_similarity(
    methods: list[str],
    nets: list[str],
    curves: dict[tuple[str, str], str],
    summary: dict[str, Any],
    path: str,
) -> None:
    """Linear CKA and angular Procrustes distance to each network's own original vs size,
    one row per network; grey line: that original vs a network of the same size trained
    from scratch with another seed; dotted: median between the independent originals."""
    fig, axes = plt.subplots(len(nets), 2, figsize=(8.5, 2.6 * len(nets)), squeeze=False)
    same = summary.get("seed_baseline_same_size") or {}
    pair = [p for p in (summary.get("original_pairwise") or {}).values()]
    for row, net in enumerate(nets):
        base = same.get(net)
        for ax, key in zip(axes[row], ("cka", "procrustes"), strict=True):
            if base:
                ax.axhline(
                    base[key], color="#999999", lw=3, alpha=0.6, label="other seed, same size"
                )
            if pair:
                ax.axhline(
                    float(np.median([p[key] for p in pair])),
                    color="k",
                    lw=1,
                    ls=":",
                    label="between originals (median)",
                )
            for method in methods:
                c = _read_csv(curves[(net, method)])
                if "size" not in c:
                    continue
                col = METHOD_COLOURS.get(method, "k")
                ax.plot(c["size"], c[f"{key}_after"], "-o", color=col, ms=3, label=method)
                ax.plot(c["size"], c[f"{key}_before"], "--", color=col, lw=0.8)
            ax.invert_xaxis()
        axes[row][0].set_ylabel(f"net {net}: linear CKA to original", fontsize=8)
        axes[row][1].set_ylabel(f"net {net}: Procrustes distance (rad)", fontsize=8)
    for ax in axes[-1]:
        ax.set_xlabel("units kept (rank for svd)")
    axes[0][0].legend(fontsize=6, title="solid: fine-tuned, dashed: before", title_fontsize=6)
    fig.tight_layout()
    save(fig, path)


def _load_npz(path: str) -> dict[str, np.ndarray]:
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def fig_ramps_pca(
    labels: list[str],
    nets: list[str],
    arrays: dict[tuple[str, str], str],
    metrics: dict[tuple[str, str], dict],
    path: str,
) -> None:
    """Output ramps (aligned to Set) and top-2 PC trajectories: one row per network kind
    (the original, then each method's selected network), two columns per network."""
    fig, axes = plt.subplots(
        len(labels), 2 * len(nets), figsize=(3.4 * len(nets), 1.9 * len(labels)), squeeze=False
    )
    for row, label in enumerate(labels):
        for k, net in enumerate(nets):
            a, m = _load_npz(arrays[(net, label)]), metrics[(net, label)]
            iv = a["interval_ms"]
            dt_ms = float(a["dt_ms"])
            cols = tempo_colours(len(iv))
            ax_o, ax_p = axes[row][2 * k], axes[row][2 * k + 1]
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
            size = m.get("units", m.get("selected_size", ""))
            ax_o.set_title(
                f"net {net}, {label} ({size}): {m.get('solution_class', '?')}", fontsize=7
            )
            ax_p.set_title(
                f"SI {m.get('si_mean', np.nan):.2f}, PR {m.get('participation_ratio', np.nan):.1f},"
                f" lin {m.get('linear_fraction', np.nan):.2f}",
                fontsize=7,
            )
            if k == 0:
                ax_o.set_ylabel("output (a.u.)")
            ax_p.set_ylabel("PC2 (a.u.)", fontsize=7)
            if row == len(labels) - 1:
                ax_o.set_xlabel("time since Set (ms)")
                ax_p.set_xlabel("PC1 (a.u.)")
    axes[0][0].legend(fontsize=5, ncol=2)
    fig.tight_layout()
    save(fig, path)


def fig_fixed_points(
    labels: list[str], nets: list[str], arrays: dict[tuple[str, str], str], path: str
) -> None:
    """τ_eff at the terminal fixed point and the number of fixed points per cue level,
    one column per network, one colour per method (black: the original)."""
    fig, axes = plt.subplots(2, len(nets), figsize=(3.6 * len(nets), 5.6), squeeze=False)
    for k, net in enumerate(nets):
        ax_t, ax_n = axes[0][k], axes[1][k]
        for label in labels:
            a = _load_npz(arrays[(net, label)])
            if "fp_cue" not in a:
                continue
            col = METHOD_COLOURS.get(label, "k")
            ax_t.plot(a["fp_cue"], a["fp_tau_terminal_ms"], "-o", color=col, ms=3, label=label)
            ax_n.plot(a["fp_cue"], a["fp_n_fixed"], "-o", color=col, ms=3, label=label)
        ax_t.set_title(f"net {net}", fontsize=8)
        ax_t.set_yscale("log")
        ax_n.set_xlabel("cue level")
    axes[0][0].set_ylabel(r"$\tau_\mathrm{eff}$ at terminal fixed point (ms)")
    axes[1][0].set_ylabel("fixed points found (Set = 0)")
    axes[0][0].legend(fontsize=6)
    fig.tight_layout()
    save(fig, path)


def fig_size_sweep(
    nets: list[str], sweeps: dict[str, dict], tables: dict[str, str], path: str
) -> None:
    """Battery measures of networks trained from scratch at each size, one colour per
    network, the marker its solution class."""
    colours = network_colours(nets)
    fig, axes = plt.subplots(1, 4, figsize=(12, 3.2))
    keys = [
        ("task_error", "task error (MARE)"),
        ("si_mean", "SI (top PCs)"),
        ("linear_fraction", "linear-unit fraction"),
        ("participation_ratio", "participation ratio"),
    ]
    for net in nets:
        c = _read_csv(tables[net])
        col = colours[net]
        for ax, (key, lab) in zip(axes, keys, strict=True):
            if key not in c:
                continue
            ax.plot(c["units"], c[key], "-", color=col, lw=0.8)
            for u, v, cls in zip(c["units"], c[key], c["solution_class"], strict=True):
                ax.plot(u, v, CLASS_MARKERS.get(str(cls), "o"), color=col, ms=6, mfc="none")
            ax.set_xscale("log")
            ax.set_xlabel("units (trained from scratch)")
            ax.set_ylabel(lab)
    handles = [
        plt.Line2D([], [], marker=mk, ls="", color="k", mfc="none", label=cls)
        for cls, mk in CLASS_MARKERS.items()
    ] + [plt.Line2D([], [], color=colours[n], label=f"net {n}") for n in nets]
    axes[0].legend(handles=handles, fontsize=6)
    changes = sum(bool(sweeps[n].get("class_changes_with_size")) for n in nets)
    fig.suptitle(f"class changes with size in {changes} of {len(nets)} networks", fontsize=9)
    fig.tight_layout()
    save(fig, path)


def fig_networks(
    methods: list[str], nets: list[str], aggregates: dict[str, dict], path: str
) -> None:
    """Each network's smallest size within 10 % per method (filled: still scales; top row:
    never within), and the across-network median (black bar)."""
    colours = network_colours(nets)
    sizes = [
        v["smallest_units_within_10pct"]
        for a in aggregates.values()
        for v in a["per_network"].values()
        if v["smallest_units_within_10pct"] is not None
    ]
    top = max(sizes, default=1) * 1.25 + 5
    fig, ax = plt.subplots(figsize=(1.5 * len(methods) + 2.5, 3.8))
    width = 0.6
    for x, method in enumerate(methods):
        agg = aggregates[method]
        for k, net in enumerate(nets):
            v = agg["per_network"][net]
            s = v["smallest_units_within_10pct"]
            dx = (k - (len(nets) - 1) / 2) * width / max(1, len(nets))
            ax.plot(
                x + dx,
                top if s is None else s,
                "o",
                color=colours[net],
                mfc=colours[net] if v["still_scales"] else "white",
                ms=7,
                zorder=3,
            )
        med = agg["smallest_units_within_10pct"]
        ax.plot([x - width / 2, x + width / 2], [top if med is None else med] * 2, "k-", lw=2)
    ax.axhline(top, color="#bbbbbb", lw=0.8, ls=":", zorder=0)
    ax.set_xticks(range(len(methods)), methods, rotation=20)
    ax.set_ylim(0, top * 1.08)
    ticks = [t for t in ax.get_yticks() if 0 <= t < top * 0.93]
    ax.set_yticks([*ticks, top], [f"{t:g}" for t in ticks] + ["never"])
    ax.set_xlabel("reduction method")
    ax.set_ylabel("smallest size within 10 % (units; rank for svd)")
    handles = [
        plt.Line2D([], [], marker="o", ls="", color=colours[n], label=f"net {n}") for n in nets
    ] + [
        plt.Line2D([], [], color="k", lw=2, label="median over networks"),
        plt.Line2D([], [], marker="o", ls="", color="k", label="still scales"),
        plt.Line2D([], [], marker="o", ls="", color="k", mfc="white", label="does not scale"),
    ]
    ax.legend(handles=handles, fontsize=6, loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.set_title(f"condensing {len(nets)} independently trained networks", fontsize=9)
    fig.tight_layout()
    save(fig, path)


def _by_net(paths: list[str], depth: int = 1) -> dict[str, str]:
    """results/condense/net<n>/<stage>/<file> -> {n: path}."""
    from pathlib import Path

    return {Path(p).parents[depth].name.removeprefix("net"): p for p in paths}


def _by_net_method(paths: list[str]) -> dict[tuple[str, str], str]:
    """results/condense/net<n>/<method>/<file> -> {(n, method): path}."""
    from pathlib import Path

    return {(Path(p).parents[1].name.removeprefix("net"), Path(p).parent.name): p for p in paths}


def condense_figures(
    *, methods: list[str], inputs: dict[str, Any], outputs: dict[str, str], dpi: int
) -> None:
    """Draw every condense figure from the stage outputs of all networks."""
    set_dpi(dpi)
    summary = read_json(inputs["summary"])
    nets = [str(n) for n in summary["networks"]]
    aggregates = {m: read_json(p) for m, p in zip(methods, inputs["aggregates"], strict=True)}
    metric_paths = _by_net_method(list(inputs["metrics"]))
    metrics = {k: read_json(p) for k, p in metric_paths.items()}
    curves = _by_net_method(list(inputs["curves"]))
    fig_performance(methods, nets, curves, metrics, aggregates, outputs["performance"])
    fig_similarity(methods, nets, curves, summary, outputs["similarity"])
    originals = {n: read_json(p) for n, p in _by_net(list(inputs["originals"])).items()}
    arrays = {**_by_net_method(list(inputs["arrays"]))}
    sel: dict[tuple[str, str], dict] = {}
    for (n, m), x in metrics.items():
        sel[(n, m)] = {**x["selected"], "selected_size": x["selected_size"]}
    for n, p in _by_net(list(inputs["original_arrays"])).items():
        arrays[(n, "original")] = p
        sel[(n, "original")] = originals[n]
    labels = ["original", *methods]
    fig_ramps_pca(labels, nets, arrays, sel, outputs["ramps_pca"])
    fig_fixed_points(labels, nets, arrays, outputs["fixed_points"])
    sweeps = {n: read_json(p) for n, p in _by_net(list(inputs["sweeps"])).items()}
    fig_size_sweep(nets, sweeps, _by_net(list(inputs["sweep_tables"])), outputs["size_sweep"])
    fig_networks(methods, nets, aggregates, outputs["networks"])
