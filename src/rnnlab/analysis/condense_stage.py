"""Stage functions of the condense study (issue 9; reference condense.md §1–3).

- :func:`train_stage` — train the Cue-Set-Go network, write checkpoint, curve and
  behaviour metrics (``results/condense/net<n>/csg``);
- :func:`original_stage` — the full battery on the trained network (``.../original``);
- :func:`reduce_stage` — one reduction method swept over sizes, before and after
  fine-tuning, similarity to the original at every size, the full battery on the smallest
  network that keeps the task (``.../<method>``);
- :func:`size_sweep_stage` — networks trained from scratch at several sizes, each
  classified by the same battery (``.../size_sweep``);

The across-network stages live in :mod:`rnnlab.analysis.condense_aggregate` and
:mod:`rnnlab.analysis.condense_summary`.

Every per-network stage takes ``network_seed``: each of its seeds (training, fine-tuning,
reduction, size sweep, fixed-point starts, evaluation noise) is then derived from the
params' base seed and the network seed (:func:`rnnlab.seeds.derive_seed`) and recorded
under ``seeds`` in the stage's metrics; ``network_seed=None`` uses the params' seeds as
they are (one network).

Task error (the quantity the 10 % criterion uses) is the noise-free mean absolute
relative interval error over the trained and interpolated intervals (no-cross = 100 %).
A network is *within 10 %* when ``error ≤ (1 + rel_tol) · error_original + abs_tol``.
"""

from __future__ import annotations

import copy
import logging
import time
from typing import Any

import numpy as np
import torch

from rnnlab.analysis import condense_reduce as cr
from rnnlab.analysis.condense_battery import (
    ClassifySettings,
    FixedPointSettings,
    aligned_rates,
    behaviour_metrics,
    classify_solution,
    fixed_points_per_cue,
    linear_cka,
    linear_unit_fraction,
    noisy_produced,
    participation_ratio,
    procrustes_distance,
    run_network,
    scaling_indices,
    set_to_tp,
    speed_interval_law,
)
from rnnlab.io import (
    atomic_write_npz,
    read_json,
    save_checkpoint,
    write_csv,
    write_json,
)
from rnnlab.models.ctrnn import CTRNN
from rnnlab.seeds import with_network_seed
from rnnlab.tasks.cue_set_go import CSGTaskConfig
from rnnlab.train.csg import (
    CSGModelSettings,
    CSGTrainSettings,
    ctrnn_like,
    fine_tune,
    load_trained_csg,
    train_csg,
    weights_of,
)

log = logging.getLogger(__name__)
METHODS = ("random", "pair_merge", "ls_prune", "svd", "iterative_merge")
CURVE_COLUMNS = [
    "size",
    "error_before",
    "error_after",
    "within_before",
    "within_after",
    "cka_before",
    "cka_after",
    "procrustes_before",
    "procrustes_after",
]


# where each params section keeps its seed (dotted path inside the section)
SEED_PATHS = {
    "train": "seed",
    "finetune": "seed",
    "evaluation": "noise_seed",
    "battery": "fixed_points.seed",
    "size_sweep": "seed",
    "method": "seed",
}


# --- helpers ------------------------------------------------------------------------------
def network_sections(
    network_seed: int | None, **sections: dict[str, Any]
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Copies of ``sections`` with their seeds derived for ``network_seed`` and the record
    of every seed used: ({name: section}, {"network": n, name: seed, ...})."""
    out: dict[str, dict[str, Any]] = {}
    record: dict[str, Any] = {"network": network_seed}
    for name, section in sections.items():
        path = SEED_PATHS.get(name)
        if path is None or _lookup(section, path) is None:  # e.g. a method without a seed
            out[name] = copy.deepcopy(dict(section))
            continue
        out[name] = with_network_seed(section, path, network_seed)
        record[name] = int(_lookup(out[name], path))
    return out, record


def _lookup(section: dict[str, Any], path: str) -> Any:
    node: Any = section
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def _intervals(task: CSGTaskConfig, evaluation: dict[str, Any]) -> dict[str, np.ndarray]:
    trained = np.asarray(task.train_intervals_ms, dtype=np.float64)
    interp = np.asarray(evaluation["interp_intervals_ms"], dtype=np.float64)
    extrap = np.asarray(evaluation["extrap_intervals_ms"], dtype=np.float64)
    return {
        "trained": trained,
        "interp": interp,
        "extrap": extrap,
        "in_range": np.sort(np.concatenate([trained, interp])),
    }


def task_error(model: CTRNN, task: CSGTaskConfig, evaluation: dict[str, Any]) -> float:
    """Noise-free MARE over trained + interpolated intervals (no-cross = 100 %)."""
    iv = _intervals(task, evaluation)["in_range"]
    run = run_network(model, task, iv)
    return behaviour_metrics(iv, run.produced_ms)["mare"]


def behaviour_block(
    model: CTRNN, task: CSGTaskConfig, evaluation: dict[str, Any]
) -> dict[str, Any]:
    """Behaviour on trained / interpolated / extrapolated intervals (+ noisy variance)."""
    iv = _intervals(task, evaluation)
    out: dict[str, Any] = {}
    for name in ("trained", "interp", "extrap", "in_range"):
        if iv[name].size == 0:
            continue
        run = run_network(model, task, iv[name])
        m = behaviour_metrics(iv[name], run.produced_ms)
        m["target_ms"] = iv[name]
        out[name] = m
    noisy = noisy_produced(
        model, task, iv["trained"], int(evaluation["noise_repeats"]), int(evaluation["noise_seed"])
    )
    nb = behaviour_metrics(iv["trained"], noisy)
    out["noisy_trained"] = {
        k: nb[k] for k in ("mare", "slope", "bias_ms", "var_ms2", "rmse_ms", "no_cross_rate")
    }
    out["task_error"] = out["in_range"]["mare"]
    return out


def network_battery(
    model: CTRNN,
    task: CSGTaskConfig,
    evaluation: dict[str, Any],
    battery: dict[str, Any],
    *,
    with_fixed_points: bool = True,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Every battery measure for one network: (metrics, arrays for figures)."""
    iv = _intervals(task, evaluation)
    run = run_network(model, task, iv["trained"])
    segs = set_to_tp(run, task.dt_ms)
    beh = behaviour_metrics(iv["trained"], run.produced_ms)
    si = scaling_indices(
        segs,
        int(battery["n_pcs"]),
        int(battery["n_bins"]),
        center_conditions=bool(battery["si_center_conditions"]),
    )
    lin = linear_unit_fraction(
        segs,
        int(battery["n_bins"]),
        max_order=int(battery["max_order"]),
        r2_min=float(battery["linear_r2_min"]),
    )
    speed = speed_interval_law(segs, run.produced_ms, task.dt_ms, int(battery["n_pcs"]))
    pooled = np.concatenate(segs, 0)
    metrics: dict[str, Any] = {
        "mare": task_error(model, task, evaluation),
        "trained_mare": beh["mare"],
        "slope": beh["slope"],
        "si_mean": si["si_mean"],
        "si_pcs": si["si_pcs"],
        "pc_variance_fraction": si["pc_variance_fraction"],
        "linear_fraction": lin["linear_fraction"],
        "n_active_units": lin["n_active_units"],
        "participation_ratio": participation_ratio(pooled),
        **speed,
    }
    # PCA trajectories (top 3 PCs of this network's own Set→Tp rates) for figures
    mean = pooled.mean(0)
    _, _, vt = np.linalg.svd(pooled - mean, full_matrices=False)
    comps = vt[:3]
    lmax = max(s.shape[0] for s in segs)
    traj = np.full((len(segs), lmax, comps.shape[0]), np.nan)
    for c, s in enumerate(segs):
        traj[c, : s.shape[0]] = (s - mean) @ comps.T
    arrays: dict[str, np.ndarray] = {
        "interval_ms": run.interval_ms,
        "cue_level": run.cue_level,
        "set_step": run.set_step,
        "output": run.output.astype(np.float32),
        "produced_ms": run.produced_ms,
        "pca_traj": traj.astype(np.float32),
        "dt_ms": np.asarray(task.dt_ms),
    }
    if with_fixed_points:
        fps = FixedPointSettings.from_params(battery["fixed_points"])
        lo, hi = min(task.cue_min, task.cue_max), max(task.cue_min, task.cue_max)
        cues = np.linspace(lo, hi, int(fps.n_cues))
        fp = fixed_points_per_cue(model, task, cues, fps)
        metrics["fixed_points"] = {k: v for k, v in fp.items() if k not in ("points", "classes")}
        metrics["fixed_points"]["classes"] = fp["classes"]
        arrays["fp_cue"] = np.asarray(fp["cue"])
        arrays["fp_tau_terminal_ms"] = np.asarray(fp["tau_eff_terminal_ms"], dtype=np.float64)
        arrays["fp_tau_init_ms"] = np.asarray(fp["tau_eff_init_ms"], dtype=np.float64)
        arrays["fp_n_fixed"] = np.asarray(fp["n_fixed"])
        arrays["fp_n_stable"] = np.asarray(fp["n_stable"])
    metrics["solution_class"] = classify_solution(
        metrics, ClassifySettings.from_params(battery["classify"])
    )
    return metrics, arrays


def reference_rates(model: CTRNN, task: CSGTaskConfig, evaluation: dict[str, Any]) -> np.ndarray:
    """Noise-free rates on the trained intervals, aligned for CKA / Procrustes comparison."""
    run = run_network(model, task, _intervals(task, evaluation)["trained"])
    return aligned_rates(run, task.dt_ms, int(evaluation["align_stride"]))


def similarity_to_reference(
    ref_rates: np.ndarray, model: CTRNN, task: CSGTaskConfig, evaluation: dict[str, Any]
) -> tuple[float, float]:
    """CKA and angular Procrustes distance of ``model`` to the reference aligned rates."""
    y = reference_rates(model, task, evaluation)
    return linear_cka(ref_rates, y), procrustes_distance(ref_rates, y)["angular"]


def _rates_fn(template: CTRNN, task: CSGTaskConfig, stride: int):
    """Rates (samples, N) of a weight dict on the trained intervals, whole trial from cue
    onset (the pre-Set wait matters too), every ``stride`` steps."""
    iv = np.asarray(task.train_intervals_ms, dtype=np.float64)
    onset = task.steps(task.cue_onset_ms)

    def fn(w: cr.Weights) -> np.ndarray:
        run = run_network(ctrnn_like(template, w), task, iv, window_factor=1.2)
        return run.rates[:, onset::stride].reshape(-1, run.rates.shape[-1])

    return fn


def _finetune(model: CTRNN, task: CSGTaskConfig, ft: dict[str, Any], seed_offset: int) -> CTRNN:
    tuned = copy.deepcopy(model)
    fine_tune(
        tuned,
        task,
        steps=int(ft["steps"]),
        batch_size=int(ft["batch_size"]),
        lr=float(ft["lr"]),
        grad_clip_norm=float(ft["grad_clip_norm"]),
        seed=int(ft["seed"]) + seed_offset,
        val_every=int(ft["val_every"]),
    )
    return tuned


def _threshold(err0: float, criterion: dict[str, Any]) -> float:
    return (1.0 + float(criterion["rel_tol"])) * err0 + float(criterion["abs_tol"])


# --- stages -------------------------------------------------------------------------------
def train_stage(
    task_params: dict[str, Any],
    model_params: dict[str, Any],
    train_params: dict[str, Any],
    evaluation: dict[str, Any],
    *,
    checkpoint_path: str,
    curve_path: str,
    metrics_path: str,
    resume_path: str | None = None,
    network_seed: int | None = None,
) -> dict[str, Any]:
    """Stage ``condense_train_csg``: the original network and its behaviour."""
    sec, seeds = network_sections(network_seed, train=train_params, evaluation=evaluation)
    train_params, evaluation = sec["train"], sec["evaluation"]
    task = CSGTaskConfig.from_params(task_params)
    model, train_metrics, _ = train_csg(
        task,
        CSGModelSettings.from_params(model_params),
        CSGTrainSettings.from_params(train_params),
        checkpoint_path=checkpoint_path,
        curve_path=curve_path,
        resume_path=resume_path,
    )
    beh = behaviour_block(model, task, evaluation)
    metrics = {"seeds": seeds, "train": train_metrics, "units": int(model.config.n_hidden), **beh}
    write_json(metrics_path, metrics)
    return metrics


def original_stage(
    evaluation: dict[str, Any],
    battery: dict[str, Any],
    *,
    checkpoint_path: str,
    metrics_path: str,
    arrays_path: str,
    network_seed: int | None = None,
) -> dict[str, Any]:
    """Stage ``condense_original``: the full battery on the trained network."""
    sec, seeds = network_sections(network_seed, evaluation=evaluation, battery=battery)
    evaluation, battery = sec["evaluation"], sec["battery"]
    torch.set_num_threads(1)
    model, task, _ = load_trained_csg(checkpoint_path)
    m, arrays = network_battery(model, task, evaluation, battery)
    m["units"] = int(model.config.n_hidden)
    m["seeds"] = seeds
    write_json(metrics_path, m)
    atomic_write_npz(arrays_path, arrays)
    return m


def _sweep_rows(
    method: str,
    mp: dict[str, Any],
    model: CTRNN,
    task: CSGTaskConfig,
    evaluation: dict[str, Any],
    finetune: dict[str, Any],
    thr: float,
    ref: np.ndarray,
) -> tuple[list[dict[str, Any]], dict[int, CTRNN]]:
    """Rows of the size sweep and the fine-tuned network at every size."""
    w0 = weights_of(model)
    n = w0["rec"].shape[0]
    stride = int(evaluation["align_stride"])
    rates_fn = _rates_fn(model, task, stride)
    rows: list[dict[str, Any]] = []
    tuned_nets: dict[int, CTRNN] = {}

    def record(size: int, before: CTRNN, after: CTRNN) -> None:
        eb, ea = task_error(before, task, evaluation), task_error(after, task, evaluation)
        cb, pb = similarity_to_reference(ref, before, task, evaluation)
        ca, pa = similarity_to_reference(ref, after, task, evaluation)
        rows.append(
            {
                "size": size,
                "error_before": eb,
                "error_after": ea,
                "within_before": bool(eb <= thr),
                "within_after": bool(ea <= thr),
                "cka_before": cb,
                "cka_after": ca,
                "procrustes_before": pb,
                "procrustes_after": pa,
            }
        )
        tuned_nets[size] = after
        log.info(
            "%s size %d: error %.4f -> %.4f (threshold %.4f), CKA %.3f -> %.3f",
            method,
            size,
            eb,
            ea,
            thr,
            cb,
            ca,
        )

    if method == "iterative_merge":
        w = w0
        net = model
        size = n
        k = 0
        while size > int(mp["min_units"]):
            pairs = min(int(mp["pairs_per_round"]), size - int(mp["min_units"]))
            w = cr.merge_round(
                w,
                _rates_fn(net, task, stride)(w),
                pairs,
                mp["criterion"],
                mp["scale"],
                int(mp["n_pcs"]),
            )
            before = ctrnn_like(model, w)
            ft = dict(finetune, steps=int(mp["steps_per_round"]))
            after = _finetune(before, task, ft, seed_offset=k)
            size = w["rec"].shape[0]
            record(size, before, after)
            w = weights_of(after)
            net = after
            k += 1
        return rows, tuned_nets

    sizes = [int(s) for s in (mp["ranks"] if method == "svd" else mp["sizes"])]
    rng = np.random.default_rng(int(mp.get("seed", 0)))
    base_rates = rates_fn(w0)
    for k, size in enumerate(sorted(set(sizes), reverse=True)):
        if method == "random":
            w = cr.random_deletion(w0, min(size, n), rng)
        elif method == "pair_merge":
            w = cr.pair_merge(
                w0,
                rates_fn,
                min(size, n),
                criterion=mp["criterion"],
                scale=mp["scale"],
                pairs_per_round=int(mp["pairs_per_round"]),
                n_pcs=int(mp["n_pcs"]),
            )
        elif method == "ls_prune":
            w = cr.ls_prune(w0, base_rates, min(size, n), ridge=float(mp["ridge"]))
        elif method == "svd":
            w = cr.svd_truncate(w0, min(size, n))
        else:
            raise ValueError(f"unknown reduction method {method!r}; choose from {METHODS}")
        before = ctrnn_like(model, w)
        if method == "svd":  # keep W_rec at rank r: fine-tune inputs, biases, readout only
            frozen = ctrnn_like(model, w)
            frozen.rec_plasticity.zero_()
            before_ft = frozen
        else:
            before_ft = before
        after = _finetune(before_ft, task, finetune, seed_offset=k)
        record(size, before, after)
    return rows, tuned_nets


def reduce_stage(
    method: str,
    method_params: dict[str, Any],
    finetune: dict[str, Any],
    evaluation: dict[str, Any],
    battery: dict[str, Any],
    criterion: dict[str, Any],
    *,
    checkpoint_path: str,
    original_metrics_path: str,
    metrics_path: str,
    curve_path: str,
    arrays_path: str,
    network_seed: int | None = None,
) -> dict[str, Any]:
    """Stage ``condense_reduce`` for one method: sweep sizes, pick the smallest network
    within tolerance (after fine-tuning), run the battery on it."""
    if method not in METHODS:
        raise ValueError(f"unknown reduction method {method!r}; choose from {METHODS}")
    sec, seeds = network_sections(
        network_seed,
        method=method_params,
        finetune=finetune,
        evaluation=evaluation,
        battery=battery,
    )
    method_params, finetune = sec["method"], sec["finetune"]
    evaluation, battery = sec["evaluation"], sec["battery"]
    torch.set_num_threads(int(finetune["threads"]))
    start = time.perf_counter()
    model, task, _ = load_trained_csg(checkpoint_path)
    original = read_json(original_metrics_path)
    err0 = task_error(model, task, evaluation)
    thr = _threshold(err0, criterion)
    ref = reference_rates(model, task, evaluation)
    rows, nets = _sweep_rows(method, method_params, model, task, evaluation, finetune, thr, ref)
    write_csv(curve_path, rows, CURVE_COLUMNS)

    def smallest(key: str) -> int | None:
        ok = [r["size"] for r in rows if r[key]]
        return int(min(ok)) if ok else None

    s_after, s_before = smallest("within_after"), smallest("within_before")
    # the smallest network within tolerance; if none kept the task, the one that came
    # closest (lowest error after fine-tuning), so the battery still says what it became
    best_row = min(rows, key=lambda r: (r["error_after"], -r["size"]))
    chosen = s_after if s_after is not None else int(best_row["size"])
    net = nets[chosen]
    bm, arrays = network_battery(net, task, evaluation, battery)
    cka, proc = similarity_to_reference(ref, net, task, evaluation)
    still = bool(s_after is not None and bm["solution_class"] == "scaling")
    metrics = {
        "method": method,
        "network_seed": network_seed,
        "seeds": seeds,
        "size_axis": "rank of W_rec" if method == "svd" else "units",
        "original_units": int(model.config.n_hidden),
        "original_task_error": err0,
        "original_class": original.get("solution_class"),
        "threshold_error": thr,
        "smallest_units_within_10pct": s_after,
        "smallest_units_within_10pct_before_finetune": s_before,
        "still_scales": still,
        "same_class_as_original": bool(bm["solution_class"] == original.get("solution_class")),
        "selected_size": int(chosen),
        "selected_within": s_after is not None,
        "selected": {**bm, "cka_to_original": cka, "procrustes_to_original": proc},
        "seconds": time.perf_counter() - start,
    }
    write_json(metrics_path, metrics)
    arrays["curve_size"] = np.asarray([r["size"] for r in rows])
    atomic_write_npz(arrays_path, arrays)
    return metrics


def size_sweep_stage(
    task_params: dict[str, Any],
    model_params: dict[str, Any],
    train_params: dict[str, Any],
    sweep: dict[str, Any],
    evaluation: dict[str, Any],
    battery: dict[str, Any],
    *,
    metrics_path: str,
    table_path: str,
    arrays_path: str,
    models_path: str | None = None,
    network_seed: int | None = None,
) -> dict[str, Any]:
    """Stage ``condense_size_sweep``: train from scratch at each size, classify each.

    With ``models_path`` every trained network is saved (one checkpoint file holding all
    sizes) so that :func:`summary_stage` can compare them with the original.
    """
    sec, seeds = network_sections(
        network_seed, size_sweep=sweep, evaluation=evaluation, battery=battery
    )
    sweep, evaluation, battery = sec["size_sweep"], sec["evaluation"], sec["battery"]
    task = CSGTaskConfig.from_params(task_params)
    rows, per_size, arrays, models = [], {}, {}, {}
    for size in [int(s) for s in sweep["sizes"]]:
        mp = CSGModelSettings.from_params({**model_params, "n_hidden": size})
        tp = CSGTrainSettings.from_params(
            {**train_params, "seed": int(sweep["seed"]), "max_steps": int(sweep["max_steps"])}
        )
        net, tm, _ = train_csg(task, mp, tp, progress_desc=f"size {size}")
        bm, arr = network_battery(
            net, task, evaluation, battery, with_fixed_points=bool(sweep["fixed_points"])
        )
        per_size[str(size)] = {"train": tm, **bm}
        rows.append(
            {
                "units": size,
                "task_error": bm["mare"],
                "si_mean": bm["si_mean"],
                "linear_fraction": bm["linear_fraction"],
                "participation_ratio": bm["participation_ratio"],
                "speed_slope_b": bm["speed_slope_b"],
                "solution_class": bm["solution_class"],
                "train_steps": tm["steps"],
            }
        )
        for k, v in arr.items():
            arrays[f"n{size}_{k}"] = v
        models[f"n{size}"] = net.to_checkpoint()
        log.info("size %d: %s, error %.3f", size, bm["solution_class"], bm["mare"])
    write_csv(table_path, rows, list(rows[0].keys()) if rows else ["units"])
    classes = [r["solution_class"] for r in rows]
    metrics = {
        "seeds": seeds,
        "sizes": [r["units"] for r in rows],
        "classes": classes,
        "class_changes_with_size": len(set(classes)) > 1,
        "smallest_scaling_units": min(
            (r["units"] for r in rows if r["solution_class"] == "scaling"), default=None
        ),
        "per_size": per_size,
    }
    write_json(metrics_path, metrics)
    atomic_write_npz(arrays_path, {**arrays, "sizes": np.asarray(metrics["sizes"])})
    if models_path is not None:
        save_checkpoint(models_path, {"task_config": task.to_dict(), "models": models})
    return metrics
