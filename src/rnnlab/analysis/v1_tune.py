"""Bayesian tuning of the V1 model with optuna (TPE), resumable from a SQLite file (B10, B11).

Search space (the reference's): input amplitudes CS, CC, PV, SST ~ U(amplitude range),
τ_learn ~ U(tau_learn range), τ_θ = factor · τ_learn with factor ~ U(factor range); every other
parameter comes from the ``v1.simulate`` section, except the number of simulations per trial
(``v1.tune.n_simulations``, fewer for speed). The objective is the reference loss
(:func:`rnnlab.analysis.v1_selectivity.loss_terms`); a trial whose loss is not finite fails.

Resuming: the study lives in ``<out_dir>/study.db`` under a name derived from a hash of every
setting that changes the objective (not ``n_trials``), so rerunning the rule continues the same
study and only adds the trials still missing; changed settings start a separate study in the
same file. A trial left RUNNING by a killed process is marked FAIL on resume. The sampler is
seeded with ``seed + number of finished trials`` so a resumed run is itself repeatable.

Constraint (not in the original): the reference loss does not penalise silence, and its
minimum lies where CS and CC sit at the rate floor (every index 0, every SD small). A trial is
feasible only if every population's mean rate after learning is at least
``min_population_rate`` (0 disables); TPE is told through ``Trial.set_constraint`` and the best
trial is the lowest loss among feasible ones (falling back to all, flagged, if none is).

The first trial of a new study is the simulate section's own point (its amplitudes and time
constants, clipped into the search space), so the tuner starts from the reference configuration
and the reported best is never worse than that point under the tuning protocol.

``legacy: true`` in the simulate section reproduces the original objective's ordering bug: the
sampled amplitudes reach the simulator as [cc, cs, pv, sst].
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import optuna

from rnnlab.analysis.v1_selectivity import run_and_evaluate, v1_simulate_stage
from rnnlab.circuits.v1.connectivity import POPULATIONS
from rnnlab.io import read_json, write_csv, write_json
from rnnlab.params import deep_merge

log = logging.getLogger(__name__)
AMPLITUDE_KEYS = ("cs", "cc", "pv", "sst")
TRIAL_COLUMNS = [
    "number",
    "state",
    "loss",
    *AMPLITUDE_KEYS,
    "tau_learn",
    "tau_threshold_factor",
    "tau_threshold",
    "min_rate",
    "feasible",
    "seconds",
]


def study_name(simulate: Mapping[str, Any], tune: Mapping[str, Any]) -> str:
    """'v1_<hash>' over everything that defines the objective (not the trial count)."""
    key = {"simulate": simulate, "tune": {k: v for k, v in tune.items() if k != "n_trials"}}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
    return f"v1_{digest}"


def trial_params(simulate: Mapping[str, Any], values: Mapping[str, float]) -> dict[str, Any]:
    """A simulate section with sampled amplitudes and time constants applied."""
    p = copy.deepcopy(dict(simulate))
    order = list(AMPLITUDE_KEYS)
    if p["legacy"]:  # the original objective passed [cc, cs, pv, sst]
        order = ["cc", "cs", "pv", "sst"]
    p["stimulus"]["amplitude"] = [float(values[k]) for k in order]
    p["plasticity"]["tau_learn"] = float(values["tau_learn"])
    p["plasticity"]["tau_threshold"] = float(values["tau_threshold_factor"] * values["tau_learn"])
    return p


def _suggest(trial: optuna.Trial, space: Mapping[str, Any]) -> dict[str, float]:
    lo, hi = space["amplitude"]
    values = {k: trial.suggest_float(k, lo, hi) for k in AMPLITUDE_KEYS}
    values["tau_learn"] = trial.suggest_float("tau_learn", *space["tau_learn"])
    values["tau_threshold_factor"] = trial.suggest_float(
        "tau_threshold_factor", *space["tau_threshold_factor"]
    )
    return values


def _objective(simulate: Mapping[str, Any], space: Mapping[str, Any], min_rate: float):
    def objective(trial: optuna.Trial) -> float:
        start = time.perf_counter()
        values = _suggest(trial, space)
        _, result = run_and_evaluate(trial_params(simulate, values))
        trial.set_user_attr("seconds", time.perf_counter() - start)
        lowest = float(np.min(result["tables"]["after"]["Mean_act"]))
        trial.set_user_attr("min_rate", lowest)
        trial.set_constraint("min_rate", min_rate - lowest if min_rate > 0 else -1.0)
        for name, value in result["loss"].items():
            if name != "loss":
                trial.set_user_attr(name, value)
        loss = result["loss"]["loss"]
        return loss if math.isfinite(loss) else float("nan")

    return objective


def _constraints(trial: optuna.trial.FrozenTrial) -> list[float]:
    """≤ 0 means feasible (optuna's convention)."""
    return [float(v) for v in (trial.constraints or {"missing": 1.0}).values()]


def _feasible(trial: optuna.trial.FrozenTrial) -> bool:
    return all(c <= 0 for c in _constraints(trial))


def start_point(simulate: Mapping[str, Any], space: Mapping[str, Any]) -> dict[str, float]:
    """The simulate section's amplitudes and time constants as a point of the search space."""
    amp = list(simulate["stimulus"]["amplitude"])
    if simulate["legacy"]:  # sampled [cs, cc] reach the simulator swapped
        amp[0], amp[1] = amp[1], amp[0]
    plast = simulate["plasticity"]
    point = dict(zip(AMPLITUDE_KEYS, amp, strict=True))
    point["tau_learn"] = plast["tau_learn"]
    point["tau_threshold_factor"] = plast["tau_threshold"] / plast["tau_learn"]
    ranges = {k: space["amplitude"] for k in AMPLITUDE_KEYS}
    ranges.update(tau_learn=space["tau_learn"], tau_threshold_factor=space["tau_threshold_factor"])
    return {k: float(np.clip(v, *ranges[k])) for k, v in point.items()}


def open_study(storage_path: str | Path, name: str, seed: int, n_startup: int) -> optuna.Study:
    """Create or load the study; stale RUNNING trials (a killed run) are marked FAIL."""
    Path(storage_path).parent.mkdir(parents=True, exist_ok=True)
    storage = optuna.storages.RDBStorage(f"sqlite:///{Path(storage_path).resolve()}")
    study = optuna.create_study(
        study_name=name, storage=storage, direction="minimize", load_if_exists=True
    )
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        storage.set_trial_state_values(t._trial_id, optuna.trial.TrialState.FAIL)
    finished = len(study.get_trials(deepcopy=False, states=_FINISHED))
    study.sampler = optuna.samplers.TPESampler(seed=seed + finished, n_startup_trials=n_startup)
    return study


_FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL)


def trial_rows(study: optuna.Study) -> list[dict[str, Any]]:
    rows = []
    for t in study.get_trials(deepcopy=False, states=_FINISHED):
        p = t.params
        rows.append(
            {
                "number": t.number,
                "state": t.state.name,
                "loss": t.value,
                **{k: p.get(k) for k in AMPLITUDE_KEYS},
                "tau_learn": p.get("tau_learn"),
                "tau_threshold_factor": p.get("tau_threshold_factor"),
                "tau_threshold": p.get("tau_threshold_factor", math.nan) * p.get("tau_learn", 0),
                "min_rate": t.user_attrs.get("min_rate"),
                "feasible": t.state.name == "COMPLETE" and _feasible(t),
                "seconds": t.user_attrs.get("seconds"),
            }
        )
    return rows


def v1_tune_stage(
    simulate: Mapping[str, Any],
    tune: Mapping[str, Any],
    out_dir: str | Path,
    metrics_path: str | Path,
    trials_csv_path: str | Path,
) -> dict[str, Any]:
    """Stage ``v1_tune``: run (or resume) the study until ``n_trials`` trials have finished."""
    start = time.perf_counter()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sim = deep_merge(simulate, {"n_simulations": int(tune["n_simulations"])})
    name = study_name(simulate, tune)
    study = open_study(Path(out_dir) / "study.db", name, int(tune["seed"]), int(tune["n_startup"]))
    if not study.trials:
        study.enqueue_trial(start_point(simulate, tune["space"]))
    done = len(study.get_trials(deepcopy=False, states=_FINISHED))
    todo = max(int(tune["n_trials"]) - done, 0)
    log.info("study %s: %d trials finished, running %d more", name, done, todo)
    if todo:
        objective = _objective(sim, tune["space"], float(tune["min_population_rate"]))
        study.optimize(objective, n_trials=todo, gc_after_trial=False)
    rows = trial_rows(study)
    write_csv(trials_csv_path, rows, TRIAL_COLUMNS)
    complete = [r for r in rows if r["state"] == "COMPLETE"]
    if not complete:
        raise RuntimeError(f"v1 tuning: none of {len(rows)} trials gave a finite loss")
    done_trials = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    feasible = [t for t in done_trials if _feasible(t)]
    best = min(feasible or done_trials, key=lambda t: (t.value, t.number))
    bp = best.params
    amplitude_applied = trial_params(sim, bp)["stimulus"]["amplitude"]
    metrics = {
        "best_loss": float(best.value),
        "trials": len(rows),
        "trials_complete": len(complete),
        "trials_feasible": len(feasible),
        "best_feasible": bool(feasible),
        "trials_this_run": todo,
        "best_trial": best.number,
        "best_params": {
            "amplitude": dict(zip(POPULATIONS, amplitude_applied, strict=True)),
            "tau_learn": float(bp["tau_learn"]),
            "tau_threshold": float(bp["tau_threshold_factor"] * bp["tau_learn"]),
            "tau_threshold_factor": float(bp["tau_threshold_factor"]),
        },
        "best_terms": {k: v for k, v in best.user_attrs.items() if k != "seconds"},
        "study_name": name,
        "seconds": time.perf_counter() - start,
    }
    write_json(metrics_path, metrics)
    log.info("v1_tune: best loss %.4g (trial %d of %d)", best.value, best.number, len(rows))
    return metrics


def best_params(simulate: Mapping[str, Any], tune_metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The full simulate section with the tuned amplitudes and time constants (fixed order)."""
    bp = tune_metrics["best_params"]
    p = copy.deepcopy(dict(simulate))
    p["stimulus"]["amplitude"] = [float(bp["amplitude"][k]) for k in POPULATIONS]
    p["plasticity"]["tau_learn"] = float(bp["tau_learn"])
    p["plasticity"]["tau_threshold"] = float(bp["tau_threshold"])
    return p


def v1_best_stage(
    simulate: Mapping[str, Any], tune_metrics_path: str | Path, out_dir: str | Path
) -> dict[str, Any]:
    """Stage ``v1_best``: re-run the full simulation protocol with the best tuned parameters."""
    return v1_simulate_stage(best_params(simulate, read_json(tune_metrics_path)), out_dir)
