"""Unit selectivity, PSTHs, tuning curves and delay activity per stage (maturation.md §6).

Selectivity (generate_neuron_info), vectorised over units:

1. baseline = per-trial fix1 mean, cue = per-trial stim1 mean; paired t-test per location
   (repeats paired); *active* = max location-mean rate of the epoch > ``min_rate`` and at
   least one location with p ≤ α;
2. normalised epoch response n = a / mean(baseline at that location) − 1 per trial;
3. *selective* = active and a one-way ANOVA of n across the 8 locations has p ≤ α;
4. exh (min N_ℓ ≥ 0), inh (max N_ℓ < 0), mix otherwise; preferred location = argmax N_ℓ.

The normalisation divides by the baseline; softplus rates are > 0, and a floor
``baseline_floor`` keeps near-silent units from exploding (the original had no guard).
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import numpy as np
from scipy import optimize, stats

from rnnlab.analysis.maturation_stages import STAGES, stage_or_fallback
from rnnlab.io import atomic_write_npz, write_csv, write_json
from rnnlab.tasks.maturation import N_RING

log = logging.getLogger(__name__)
KINDS = ("none", "exh", "inh", "mix")


def selectivity(
    epoch_means: np.ndarray,
    locations: np.ndarray,
    epoch: int,
    *,
    base_epoch: int = 0,
    cue_epoch: int = 1,
    alpha: float = 0.05,
    min_rate: float = 1e-3,
    baseline_floor: float = 1e-3,
) -> dict[str, np.ndarray]:
    """Selectivity of every unit in one epoch.

    epoch_means: (trials, epochs, units) per-trial epoch means; ``locations`` (trials,)
    in 0..7 with equal repeats. Returns per unit: active, selective, kind (0 none, 1 exh,
    2 inh, 3 mix), pref (location), p_anova, and ``norm_curve`` (8, units) = N_ℓ.
    """
    em = np.asarray(epoch_means, np.float64)
    locations = np.asarray(locations)
    order = np.argsort(locations, kind="stable")
    counts = np.bincount(locations, minlength=N_RING)
    if counts.min() != counts.max() or counts.min() < 2:
        raise ValueError(f"need >= 2 equal repeats per location, got counts {counts.tolist()}")
    reps = int(counts[0])
    x = em[order].reshape(N_RING, reps, em.shape[1], em.shape[2])  # (L, R, E, N)
    base, cue, act = x[:, :, base_epoch], x[:, :, cue_epoch], x[:, :, epoch]
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore")
        p_pair = stats.ttest_rel(base, cue, axis=1).pvalue  # (L, N)
    p_pair = np.nan_to_num(p_pair, nan=1.0)
    raw_curve = act.mean(1)  # (L, N)
    active = (raw_curve.max(0) > min_rate) & ((p_pair <= alpha).sum(0) >= 1)
    base_mean = np.maximum(base.mean(1, keepdims=True), baseline_floor)  # (L, 1, N)
    norm = act / base_mean - 1.0  # (L, R, N)
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore")
        p_anova = stats.f_oneway(*[norm[loc] for loc in range(N_RING)], axis=0).pvalue
    p_anova = np.nan_to_num(np.asarray(p_anova, float), nan=1.0)
    selective = active & (p_anova <= alpha)
    curve = norm.mean(1)  # (L, N)
    kind = np.where(curve.min(0) >= 0, 1, np.where(curve.max(0) < 0, 2, 3))
    kind = np.where(selective, kind, 0)
    return {
        "active": active,
        "selective": selective,
        "kind": kind,
        "pref": curve.argmax(0),
        "p_anova": p_anova,
        "norm_curve": curve,
        "raw_curve": raw_curve,
        "base_mean": base_mean[:, 0, :],
    }


def gaussian(x: np.ndarray, a: float, u: float, sigma: float) -> np.ndarray:
    """The original's fit function a·exp(−(x−u)²/(2σ²))/(σ·sqrt(2π))."""
    return a * np.exp(-((x - u) ** 2) / (2 * sigma**2)) / (sigma * np.sqrt(2 * np.pi))


def centred_curves(curves: np.ndarray, pref: np.ndarray) -> np.ndarray:
    """(8, units) -> (units, 9): preferred location at index 4, wrap point appended."""
    n = curves.shape[1]
    shift = 4 - np.asarray(pref)
    idx = (np.arange(N_RING)[None, :] - shift[:, None]) % N_RING
    out = curves.T[np.arange(n)[:, None], idx]
    return np.concatenate([out, out[:, :1]], axis=1)


def fit_width(mean_curve: np.ndarray) -> dict[str, float]:
    """Gaussian fit of (curve − min) on 0..8; width = 2σ in location units (45° each)."""
    y = np.asarray(mean_curve, float) - np.min(mean_curve)
    x = np.arange(y.size, dtype=float)
    try:
        (a, u, sigma), _ = optimize.curve_fit(
            gaussian, x, y, p0=(y.max() + 1, 4.0, 1.0), maxfev=20000
        )
        return {"amplitude": float(a), "centre": float(u), "width": float(2 * abs(sigma))}
    except (RuntimeError, ValueError) as err:  # flat curves cannot be fitted
        log.warning("Gaussian fit failed: %s", err)
        return {"amplitude": float("nan"), "centre": float("nan"), "width": float("nan")}


def _epoch_index(names: list[str], epoch: str, task: str) -> int:
    if epoch not in names:
        raise ValueError(f"task {task} has no epoch {epoch!r}; epochs are {names}")
    return names.index(epoch)


def _sel_for(data: dict[str, np.ndarray], g: int, epoch: str, p: dict[str, Any]) -> dict:
    names = [str(n) for n in data["epoch_names"]]
    return selectivity(
        data["epoch_means"][g],
        data["locations"],
        _epoch_index(names, epoch, str(data["task"])),
        base_epoch=names.index("fix1"),
        cue_epoch=names.index("stim1"),
        alpha=p["alpha"],
        min_rate=p["min_rate"],
        baseline_floor=p["baseline_floor"],
    )


def _growth_index(data: dict[str, np.ndarray], trials: int) -> int:
    return int(np.flatnonzero(data["growth_trials"] == trials)[0])


def _ttest(a: list[float], b: list[float]) -> float | None:
    if len(a) < 2 or len(b) < 2:
        return None
    return float(stats.ttest_ind(a, b).pvalue)


def analysis_stage(
    params: dict[str, Any],
    activity_paths: dict[str, str],
    *,
    metrics_path: str,
    counts_csv: str,
    psth_npz: str,
    psth_csv: str,
    tuning_csv: str,
    delay_csv: str,
    growth_csv: str,
) -> dict[str, Any]:
    """Stage ``maturation_analysis``: selectivity counts, PSTHs, tuning, delay activity."""
    data = {t: dict(np.load(p)) for t, p in activity_paths.items()}
    for need in (params["tuning"]["task"], params["delay"]["task"], params["growth"]["task"]):
        if need not in data:
            raise ValueError(f"maturation.analysis: task {need!r} has no activity file")
    metrics: dict[str, Any] = {}

    # 1. active / selective counts per checkpoint, task and epoch ------------------------
    count_rows = []
    for task, d in data.items():
        names = [str(n) for n in d["epoch_names"]]
        for g, trials in enumerate(d["growth_trials"]):
            stage_of = {
                int(t): STAGES[k] for t, k in zip(d["stage_trials"], d["stage_label"], strict=False)
            }
            for epoch in names:
                if epoch == "fix1":
                    continue
                s = _sel_for(d, g, epoch, params)
                count_rows.append(
                    {
                        "task": task,
                        "trials": int(trials),
                        "perf": float(d["growth_perf"][g]),
                        "stage": stage_of.get(int(trials), ""),
                        "epoch": epoch,
                        "active": int(s["active"].sum()),
                        "selective": int(s["selective"].sum()),
                        **{k: int((s["kind"] == i).sum()) for i, k in enumerate(KINDS) if i},
                    }
                )
    write_csv(
        counts_csv,
        count_rows,
        ["task", "trials", "perf", "stage", "epoch", "active", "selective", "exh", "inh", "mix"],
    )
    units_summary: dict[str, Any] = {}
    for task in data:
        for s in STAGES:
            rows = [r for r in count_rows if r["task"] == task and r["stage"] == s]
            for epoch in sorted({r["epoch"] for r in rows}):
                sub = [r for r in rows if r["epoch"] == epoch]
                units_summary.setdefault(task, {}).setdefault(epoch, {})[s] = {
                    k: float(np.mean([r[k] for r in sub]))
                    for k in ("active", "selective", "exh", "inh", "mix")
                }
    metrics["units"] = units_summary

    # 2. PSTHs of exh ∪ mix units per stage, preferred and opposite location -------------
    psth_arrays: dict[str, np.ndarray] = {}
    psth_rows = []
    for spec in params["psth"]:
        task, epoch = spec["task"], spec["epoch"]
        if task not in data:
            continue
        d = data[task]
        dt_s = float(d["dt_ms"]) / 1000.0
        curves = {s: {"pref": [], "opp": [], "n": []} for s in STAGES}
        for k, trials in enumerate(d["stage_trials"]):
            s_name = STAGES[int(d["stage_label"][k])]
            sel = _sel_for(d, _growth_index(d, int(trials)), epoch, params)
            units = np.flatnonzero(np.isin(sel["kind"], (1, 3)))
            curves[s_name]["n"].append(units.size)
            if units.size == 0:
                continue
            ps = d["psth"][k].astype(np.float64)  # (8, T, N)
            base = sel["base_mean"]  # (8, N)
            for key, shift in (("pref", 0), ("opp", N_RING // 2)):
                loc = (sel["pref"][units] + shift) % N_RING
                tr = ps[loc, :, units] / base[loc, units][:, None] - 1.0  # (units, T)
                curves[s_name][key].append(tr.mean(0))
        n_steps = d["psth"].shape[2]
        time_s = (np.arange(n_steps) + 1) * dt_s
        name = f"{task}_{epoch}"
        psth_arrays[f"{name}_time_s"] = time_s
        for s in STAGES:
            for key in ("pref", "opp"):
                c = curves[s][key]
                arr = np.mean(c, 0) if c else np.full(n_steps, np.nan)
                psth_arrays[f"{name}_{s}_{key}"] = arr
            psth_arrays[f"{name}_{s}_n_units"] = np.array(np.mean(curves[s]["n"] or [0]))
            for i, t in enumerate(time_s):
                psth_rows.append(
                    {
                        "task": task,
                        "epoch": epoch,
                        "stage": s,
                        "time_s": float(t),
                        "pref": float(psth_arrays[f"{name}_{s}_pref"][i]),
                        "opp": float(psth_arrays[f"{name}_{s}_opp"][i]),
                    }
                )
    atomic_write_npz(psth_npz, psth_arrays)
    write_csv(psth_csv, psth_rows, ["task", "epoch", "stage", "time_s", "pref", "opp"])

    # 3. tuning curves (Gaussian fit of the centred mean) and heights per stage ----------
    tp = params["tuning"]
    d = data[tp["task"]]
    mean_curves: dict[str, list[np.ndarray]] = {s: [] for s in STAGES}
    heights: dict[str, list[float]] = {s: [] for s in STAGES}
    for k, trials in enumerate(d["stage_trials"]):
        s_name = STAGES[int(d["stage_label"][k])]
        sel = _sel_for(d, _growth_index(d, int(trials)), tp["epoch"], params)
        units = np.flatnonzero(np.isin(sel["kind"], (1, 3)))
        if units.size == 0:
            continue
        cc = centred_curves(sel["norm_curve"][:, units], sel["pref"][units])
        mean_curves[s_name].append(cc.mean(0))
        heights[s_name] += list(np.ptp(sel["norm_curve"][:, units], axis=0))
    tuning: dict[str, Any] = {"height": {}, "width": {}, "peak": {}, "n_units": {}, "p": {}}
    tuning_rows = []
    for s in STAGES:
        if mean_curves[s]:
            curve = np.mean(mean_curves[s], 0)
            fit = fit_width(curve)
        else:
            curve = np.full(N_RING + 1, np.nan)
            fit = {"width": None, "amplitude": None, "centre": None}
        tuning["height"][s] = float(np.mean(heights[s])) if heights[s] else None
        tuning["width"][s] = fit["width"]
        tuning["peak"][s] = float(np.nanmax(curve)) if mean_curves[s] else None
        tuning["n_units"][s] = len(heights[s])
        tuning.setdefault("fit", {})[s] = fit
        for i, v in enumerate(curve):
            tuning_rows.append({"stage": s, "offset_loc": i - 4, "norm_rate": float(v)})
    for a, b in (("early", "mid"), ("early", "mature"), ("mid", "mature")):
        tuning["p"][f"{a}_{b}"] = _ttest(heights[a], heights[b])
    tuning["task"], tuning["epoch"] = tp["task"], tp["epoch"]
    metrics["tuning"] = tuning
    write_csv(tuning_csv, tuning_rows, ["stage", "offset_loc", "norm_rate"])

    # 4. delay activity: last checkpoint of each stage (or all), selective units, ANOVA --
    dp = params["delay"]
    d = data[dp["task"]]
    pooled: dict[str, dict[str, list[float]]] = {
        mode: {s: [] for s in STAGES} for mode in ("last", "all")
    }
    delay_rows = []
    for k_stage, s in enumerate(STAGES):
        members = [
            int(t)
            for t, lab in zip(d["stage_trials"], d["stage_label"], strict=True)
            if lab == k_stage
        ]
        for trials in members:
            sel = _sel_for(d, _growth_index(d, trials), dp["epoch"], params)
            units = np.flatnonzero(np.isin(sel["kind"], (1, 3)))
            vals = [float(v) for v in sel["norm_curve"][sel["pref"][units], units]]
            pooled["all"][s] += vals
            if trials == members[-1]:
                pooled["last"][s] += vals
            if dp["checkpoints"] == "all" or trials == members[-1]:
                delay_rows += [
                    {"stage": s, "trials": trials, "unit": int(u), "delay_activity": v}
                    for u, v in zip(units, vals, strict=True)
                ]

    def summary(per_stage: dict[str, list[float]]) -> dict[str, Any]:
        groups = [per_stage[s] for s in STAGES if len(per_stage[s]) >= 2]
        return {
            **{s: (float(np.mean(per_stage[s])) if per_stage[s] else None) for s in STAGES},
            "anova_p": float(stats.f_oneway(*groups).pvalue) if len(groups) >= 2 else None,
            "n_units": {s: len(per_stage[s]) for s in STAGES},
        }

    other = "all" if dp["checkpoints"] == "last" else "last"
    metrics["delay_activity"] = {
        **summary(pooled[dp["checkpoints"]]),
        "task": dp["task"],
        "epoch": dp["epoch"],
        "checkpoints": dp["checkpoints"],
        f"checkpoints_{other}": summary(pooled[other]),
    }
    write_csv(delay_csv, delay_rows, ["stage", "trials", "unit", "delay_activity"])

    # 5. delay-activity growth over all (growth) checkpoints ----------------------------
    gp = params["growth"]
    d = data[gp["task"]]
    names = [str(n) for n in d["epoch_names"]]
    stage_of = {
        int(t): STAGES[k] for t, k in zip(d["stage_trials"], d["stage_label"], strict=False)
    }
    growth_rows = []
    for g, trials in enumerate(d["growth_trials"]):
        sel = _sel_for(d, g, gp["select_epoch"], params)
        units = np.flatnonzero(np.isin(sel["kind"], (1, 3)))
        e = _epoch_index(names, gp["epoch"], gp["task"])
        em = d["epoch_means"][g].astype(np.float64)[:, e, :]  # (trials, N)
        loc = d["locations"]
        if units.size:
            loc_mean = np.stack([em[loc == q].mean(0) for q in range(N_RING)])  # (8, N)
            vals = (
                loc_mean[sel["pref"][units], units] / sel["base_mean"][sel["pref"][units], units]
                - 1.0
            )
            value = float(vals.mean())
        else:
            value = float("nan")
        growth_rows.append(
            {
                "trials": int(trials),
                "perf": float(d["growth_perf"][g]),
                "stage": stage_of.get(int(trials), ""),
                "n_units": int(units.size),
                "delay_activity": value,
            }
        )
    write_csv(growth_csv, growth_rows, ["trials", "perf", "stage", "n_units", "delay_activity"])
    by_stage = {
        s: [r["delay_activity"] for r in growth_rows if r["stage"] == s and r["n_units"]]
        for s in STAGES
    }
    metrics["delay_growth"] = {
        "task": gp["task"],
        "epoch": gp["epoch"],
        **{s: (float(np.mean(v)) if v else None) for s, v in by_stage.items()},
        "spearman_perf": float(
            stats.spearmanr(
                [r["perf"] for r in growth_rows if r["n_units"]],
                [r["delay_activity"] for r in growth_rows if r["n_units"]],
            ).statistic
        )
        if len({r["perf"] for r in growth_rows if r["n_units"]}) > 2
        else None,
    }
    metrics["stage_perf"] = {
        t: {
            s: float(np.mean(dd["stage_perf"][dd["stage_label"] == k]))
            if np.any(dd["stage_label"] == k)
            else None
            for k, s in enumerate(STAGES)
        }
        for t, dd in data.items()
    }
    write_json(metrics_path, metrics)
    return metrics


def single_unit_stage(
    params: dict[str, Any], sel_params: dict[str, Any], activity_path: str, *, npz_path: str
) -> dict[str, Any]:
    """Stage ``maturation_unit``: one selective unit of the mature representative network.

    Picks the exh/mix unit (selective in ``params['epoch']``) with the largest tuning
    height, or ``params['unit']`` when ≥ 0; writes its location-mean PSTHs (8, T) and the
    epoch-mean rate per location for the 3×3 panel with polar tuning.
    """
    d = dict(np.load(activity_path))
    if d["rep_rates"].shape[0] == 0:
        raise ValueError(f"{activity_path}: no representative activity (detail_tasks?)")
    k = stage_or_fallback(d["rep_trials"], params["stage"])
    rates = d["rep_rates"][k].astype(np.float64)  # (trials, T, N)
    locs = d["locations"]
    names = [str(n) for n in d["epoch_names"]]
    bounds = d["epoch_bounds"]
    em = np.stack([rates[:, a:b].mean(1) for a, b in bounds], 1)  # (trials, E, N)
    sel = selectivity(
        em,
        locs,
        _epoch_index(names, params["epoch"], str(d["task"])),
        base_epoch=names.index("fix1"),
        cue_epoch=names.index("stim1"),
        alpha=sel_params["alpha"],
        min_rate=sel_params["min_rate"],
        baseline_floor=sel_params["baseline_floor"],
    )
    unit = int(params["unit"])
    if unit < 0:
        cand = np.flatnonzero(np.isin(sel["kind"], (1, 3)))
        pool = cand if cand.size else np.arange(rates.shape[2])
        unit = int(pool[np.argmax(np.ptp(sel["raw_curve"][:, pool], axis=0))])
    psth = np.stack([rates[locs == q, :, unit].mean(0) for q in range(N_RING)])
    arrays = {
        "unit": np.array(unit),
        "kind": np.array(KINDS[int(sel["kind"][unit])]),
        "stage": np.array(STAGES[k]),
        "trials": np.array(int(d["rep_trials"][k])),
        "time_s": (np.arange(rates.shape[1]) + 1) * float(d["dt_ms"]) / 1000.0,
        "psth": psth,
        "epoch_rate": sel["raw_curve"][:, unit],
        "pref": np.array(int(sel["pref"][unit])),
        "epoch_bounds_s": bounds * float(d["dt_ms"]) / 1000.0,
        "epoch_names": np.array(names),
    }
    atomic_write_npz(npz_path, arrays)
    return {"unit": unit, "kind": str(arrays["kind"])}
