"""Figures of the maturation study; each reads saved CSV/NPZ/JSON and never recomputes."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from rnnlab.io import read_json
from rnnlab.plots.style import plt, save, set_dpi

STAGE_COLOURS = {"early": "#7fb3d5", "mid": "#f0b27a", "mature": "#c0392b"}
TASK_COLOURS = {
    "odr": "#c0392b",
    "odrd": "#8e44ad",
    "overlap": "#2471a3",
    "zero_gap": "#27ae60",
    "gap": "#e67e22",
    "gap500": "#7f8c8d",
}
STAGES = ("early", "mid", "mature")


def _rows(path: str) -> list[dict[str, str]]:
    with open(path) as fh:
        return list(csv.DictReader(fh))


def _f(v: str) -> float:
    return float(v) if v not in ("", "None") else float("nan")


def fig_performance(log_csv: str, stages_json: str, out_png: str) -> None:
    """Performance growth per task, with the stage checkpoints of ODR shaded."""
    rows = _rows(log_csv)
    trials = np.array([_f(r["trials"]) for r in rows])
    fig, ax = plt.subplots(figsize=(7, 3.6), layout="constrained")
    tasks = [k[5:] for k in rows[0] if k.startswith("perf_") and k not in ("perf_min", "perf_avg")]
    for t in tasks:
        ax.plot(trials, [_f(r[f"perf_{t}"]) for r in rows], label=t, color=TASK_COLOURS.get(t))
    stages = read_json(stages_json)
    for t in ("odr",):
        if t not in stages["tasks"]:
            continue
        for s in STAGES:
            tr = stages["tasks"][t][s]["trials"]
            if tr:
                ax.axvspan(min(tr), max(tr), color=STAGE_COLOURS[s], alpha=0.15, lw=0)
    for y in (0.35, 0.65, 0.95):
        ax.axhline(y, color="0.7", lw=0.6, ls=":")
    ax.set_xlabel("training trials")
    ax.set_ylabel("performance (fraction correct)")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=7, ncol=3, loc="lower right")
    ax.set_title("performance growth (shaded: ODR early / mid / mature checkpoints)", fontsize=9)
    save(fig, out_png)


def fig_psth(psth_npz: str, out_png: str) -> None:
    """Normalised PSTHs of exh ∪ mix units per stage: preferred (solid) / opposite (dashed)."""
    d = np.load(psth_npz)
    names = sorted({k.rsplit("_time_s", 1)[0] for k in d.files if k.endswith("_time_s")})
    fig, axes = plt.subplots(
        1, len(names), figsize=(4.2 * len(names), 3.4), squeeze=False, layout="constrained"
    )
    for ax, name in zip(axes[0], names, strict=False):
        t = d[f"{name}_time_s"]
        for s in STAGES:
            n = float(d[f"{name}_{s}_n_units"])
            ax.plot(t, d[f"{name}_{s}_pref"], color=STAGE_COLOURS[s], label=f"{s} (n≈{n:.0f})")
            ax.plot(t, d[f"{name}_{s}_opp"], color=STAGE_COLOURS[s], ls="--")
        ax.set_title(f"{name.replace('_', ' ')} selective units", fontsize=9)
        ax.set_xlabel("time (s)")
        ax.set_ylabel("rate / baseline − 1")
        ax.legend(fontsize=7)
    save(fig, out_png)


def fig_tuning_delay(
    tuning_csv: str, delay_csv: str, growth_csv: str, metrics_json: str, out_png: str
) -> None:
    """Tuning curves per stage, delay activity per stage, and its growth over checkpoints."""
    m = read_json(metrics_json)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), layout="constrained")
    rows = _rows(tuning_csv)
    for s in STAGES:
        sub = [r for r in rows if r["stage"] == s]
        w = m["tuning"]["width"].get(s)
        label = f"{s}: width 2σ = {w:.2f}" if w is not None else s
        axes[0].plot(
            [int(r["offset_loc"]) * 45 for r in sub],
            [_f(r["norm_rate"]) for r in sub],
            "o-",
            color=STAGE_COLOURS[s],
            label=label,
        )
    axes[0].set_xlabel("location relative to preferred (deg)")
    axes[0].set_ylabel("rate / baseline − 1")
    axes[0].set_title(f"{m['tuning']['task']} {m['tuning']['epoch']} tuning", fontsize=9)
    axes[0].legend(fontsize=7)
    rows = _rows(delay_csv)
    data = [[_f(r["delay_activity"]) for r in rows if r["stage"] == s] for s in STAGES]
    keep = [i for i, v in enumerate(data) if v]
    if keep:
        axes[1].boxplot([data[i] for i in keep], showfliers=False)
        axes[1].set_xticks(range(1, len(keep) + 1), [STAGES[i] for i in keep])
    p = m["delay_activity"].get("anova_p")
    axes[1].set_title(
        f"{m['delay_activity']['task']} {m['delay_activity']['epoch']}: ANOVA p = "
        + (f"{p:.2g}" if p is not None else "n/a"),
        fontsize=9,
    )
    axes[1].set_ylabel("delay activity (rate / baseline − 1)")
    rows = _rows(growth_csv)
    for s, colour in list(STAGE_COLOURS.items()) + [("", "0.6")]:
        sub = [r for r in rows if r["stage"] == s]
        axes[2].scatter(
            [_f(r["trials"]) for r in sub],
            [_f(r["delay_activity"]) for r in sub],
            s=10,
            color=colour,
            label=s or "other",
        )
    axes[2].set_xlabel("training trials")
    axes[2].set_ylabel("delay activity (rate / baseline − 1)")
    axes[2].set_title("delay-activity growth", fontsize=9)
    axes[2].legend(fontsize=7)
    save(fig, out_png)


def fig_units(counts_csv: str, out_png: str) -> None:
    """Selective units (exh / inh / mix) per epoch and stage, mean over stage checkpoints."""
    rows = [r for r in _rows(counts_csv) if r["stage"]]
    tasks = [t for t in ("odr", "odrd", "overlap", "gap") if any(r["task"] == t for r in rows)]
    tasks = tasks or sorted({r["task"] for r in rows})[:4]
    fig, axes = plt.subplots(
        1, max(1, len(tasks)), figsize=(3.6 * max(1, len(tasks)), 3.4), squeeze=False,
        layout="constrained",
    )  # fmt: skip
    kinds = (("exh", 1.0), ("mix", 0.6), ("inh", 0.3))
    for ax, task in zip(axes[0], tasks, strict=False):
        epochs = list(dict.fromkeys(r["epoch"] for r in rows if r["task"] == task))
        for i, epoch in enumerate(epochs):
            for j, s in enumerate(STAGES):
                sub = [
                    r for r in rows if r["task"] == task and r["epoch"] == epoch and r["stage"] == s
                ]
                bottom = 0.0
                for kind, alpha in kinds:
                    v = float(np.mean([_f(r[kind]) for r in sub])) if sub else 0.0
                    ax.bar(i + (j - 1) * 0.27, v, 0.25, bottom=bottom, color=STAGE_COLOURS[s],
                           alpha=alpha, label=f"{s} {kind}" if i == 0 else None)  # fmt: skip
                    bottom += v
        ax.set_xticks(range(len(epochs)), epochs)
        ax.set_xlabel("epoch")
        ax.set_ylabel("selective units (mean per checkpoint)")
        ax.set_title(task, fontsize=9)
    axes[0][0].legend(fontsize=6, ncol=3)
    save(fig, out_png)


def fig_decoding(decoding_npz: str, out_png: str) -> None:
    """Cross-temporal decoding matrices per stage (held-out trials everywhere)."""
    d = np.load(decoding_npz)
    stages = [s for s in STAGES if f"{s}_accuracy" in d.files]
    fig, axes = plt.subplots(
        1, max(1, len(stages)), figsize=(4 * max(1, len(stages)), 3.6), layout="constrained"
    )
    axes = np.atleast_1d(axes)
    t = d["window_centre_s"]
    for ax, s in zip(axes, stages, strict=False):
        im = ax.imshow(
            d[f"{s}_accuracy"],
            origin="lower",
            extent=(t[0], t[-1], t[0], t[-1]),
            vmin=0.125,
            vmax=1.0,
            cmap="viridis",
            aspect="auto",
        )
        ax.set_xlabel("test time (s)")
        ax.set_ylabel("train time (s)")
        ax.set_title(f"{s}", fontsize=9)
        fig.colorbar(im, ax=ax, label="accuracy")
    save(fig, out_png)


def fig_dpca(dpca_npz: str, out_png: str) -> None:
    """First dPCA component of each marginalisation per location vs time."""
    d = np.load(dpca_npz)
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4), layout="constrained")
    cmap = plt.get_cmap("hsv")
    locs = d["locations"]
    for ax, m in zip(axes, ("t", "s", "st"), strict=False):
        z = d[f"{m}_components"][0]
        ev = float(d[f"{m}_explained_variance"][0])
        for i, q in enumerate(locs):
            ax.plot(d["time_s"], z[i], color=cmap(int(q) / 8), label=f"loc {int(q)}")
        ax.set_title(f"'{m}' component 1 ({100 * ev:.1f} % var)", fontsize=9)
        ax.set_xlabel("time (s)")
        ax.set_ylabel("component (a.u.)")
    axes[0].legend(fontsize=6, ncol=2)
    save(fig, out_png)


def fig_errors(hist_csv: str, distractor_csv: str, out_png: str) -> None:
    """Saccade-error histograms per stage (one panel per task) + ODRD perf vs distance."""
    rows = _rows(hist_csv)
    tasks = sorted({r["task"] for r in rows})
    dist = _rows(distractor_csv)
    n = len(tasks) + 1
    fig, axes = plt.subplots(1, n, figsize=(3.8 * n, 3.4), squeeze=False, layout="constrained")
    for ax, task in zip(axes[0], tasks, strict=False):
        for s in STAGES:
            sub = [r for r in rows if r["task"] == task and r["stage"] == s]
            if sub:
                ax.step(
                    [_f(r["bin_lo_deg"]) for r in sub],
                    [_f(r["fraction"]) for r in sub],
                    where="post",
                    color=STAGE_COLOURS[s],
                    label=s,
                )
        ax.set_xlabel("angular error (deg)")
        ax.set_ylabel("fraction of trials")
        ax.set_title(task, fontsize=9)
        ax.legend(fontsize=7)
    ax = axes[0][-1]
    for s in STAGES:
        sub = [r for r in dist if r["stage"] == s]
        if sub:
            ax.plot(
                [_f(r["distance_deg"]) for r in sub],
                [_f(r["perf"]) for r in sub],
                "o-",
                color=STAGE_COLOURS[s],
                label=s,
            )
    ax.set_xlabel("cue–distractor distance (deg)")
    ax.set_ylabel("ODRD performance")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=7)
    save(fig, out_png)


def fig_unit(unit_npz: str, out_png: str) -> None:
    """3×3 PSTH panel of one unit (location k at k·45° clockwise from top) + polar tuning."""
    d = np.load(unit_npz)
    slots = [(0, 1), (0, 2), (1, 2), (2, 2), (2, 1), (2, 0), (1, 0), (0, 0)]
    fig = plt.figure(figsize=(8.5, 8), layout="constrained")
    ymax = float(np.max(d["psth"])) * 1.05 + 1e-9
    for loc, (r, c) in enumerate(slots):
        ax = fig.add_subplot(3, 3, r * 3 + c + 1)
        ax.plot(d["time_s"], d["psth"][loc], color="#c0392b")
        for a, _ in d["epoch_bounds_s"][1:]:
            ax.axvline(a, color="0.7", lw=0.5)
        ax.set_ylim(0, ymax)
        ax.set_title(f"loc {loc} ({45 * loc}°)", fontsize=8)
        ax.tick_params(labelsize=6)
        if r == 2:
            ax.set_xlabel("time (s)", fontsize=7)
        if c == 0:
            ax.set_ylabel("rate (a.u.)", fontsize=7)
    ax = fig.add_subplot(3, 3, 5, projection="polar")
    theta = np.deg2rad(45 * np.arange(9))
    rate = np.append(d["epoch_rate"], d["epoch_rate"][0])
    rate = rate / max(float(rate.max()), 1e-12)
    ax.set_theta_zero_location("N")
    ax.set_theta_direction(-1)
    ax.plot(theta, rate, color="#2471a3")
    pref = np.deg2rad(45 * int(d["pref"]))
    ax.plot([pref, pref], [0, 1], color="#c0392b")
    fig.suptitle(f"unit {int(d['unit'])} ({d['kind']}, {d['stage']} network)", fontsize=9)
    ax.tick_params(labelsize=6)
    save(fig, out_png)


def figures_stage(figures: dict[str, Any], inputs: dict[str, str], outputs: dict[str, str]):
    """Stage ``fig_maturation``: draw every figure whose output is asked for."""
    set_dpi(figures["dpi"])
    draw = {
        "performance": lambda o: fig_performance(inputs["log"], inputs["stages"], o),
        "psth": lambda o: fig_psth(inputs["psth"], o),
        "tuning_delay": lambda o: fig_tuning_delay(
            inputs["tuning"], inputs["delay"], inputs["growth"], inputs["metrics"], o
        ),
        "units": lambda o: fig_units(inputs["counts"], o),
        "decoding": lambda o: fig_decoding(inputs["decoding"], o),
        "dpca": lambda o: fig_dpca(inputs["dpca"], o),
        "errors": lambda o: fig_errors(inputs["hist"], inputs["distractor"], o),
        "unit": lambda o: fig_unit(inputs["unit"], o),
    }
    for key, path in outputs.items():
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        draw[key](path)
