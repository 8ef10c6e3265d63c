"""Developmental stages of a training run from its per-checkpoint performance (maturation.md §6).

Two rules, both from the original:

- **list** (Main_analysis): each checkpoint by its own perf p of the analysed task:
  early p ≤ 0.35 < mid p ≤ 0.65 < mature. Each stage is then capped at ``max_per_stage``
  checkpoints: early keeps its *last* N, mature its *first* N, mid its *middle* N (the
  auto rule's cap), so the stages sit around the learning transition;
- **auto** (tools.range_auto_select): forward-smoothed perf s_i = mean(p_i … p_{i+w});
  checkpoints i … i+w join early if |s_i − 0.35| ≤ tol, mid if |s_i − 0.65| ≤ tol,
  mature if s_i ≥ 0.90; same caps.

A *representative* checkpoint per stage (decoding, dPCA, single units) is the stage
member whose perf is closest to 0.35 / 0.65 / 0.95.
"""

from __future__ import annotations

import csv
import logging
from typing import Any

import numpy as np

from rnnlab.io import write_json

log = logging.getLogger(__name__)
STAGES: tuple[str, ...] = ("early", "mid", "mature")
REPRESENTATIVE_PERF = {"early": 0.35, "mid": 0.65, "mature": 0.95}


def list_labels(perf: np.ndarray, early_max: float = 0.35, mid_max: float = 0.65) -> np.ndarray:
    """Stage index per checkpoint: 0 early (p ≤ early_max), 1 mid (≤ mid_max), 2 mature."""
    perf = np.asarray(perf, float)
    return np.where(perf <= early_max, 0, np.where(perf <= mid_max, 1, 2))


def cap_stage(indices: list[int], stage: str, max_n: int) -> list[int]:
    """Keep at most ``max_n``: early the last, mature the first, mid the middle ones."""
    idx = sorted(set(int(i) for i in indices))
    if max_n <= 0 or len(idx) <= max_n:
        return idx
    if stage == "early":
        return idx[-max_n:]
    if stage == "mature":
        return idx[:max_n]
    start = (len(idx) - max_n) // 2
    return idx[start : start + max_n]


def list_select(
    perf: np.ndarray, max_per_stage: int, early_max: float = 0.35, mid_max: float = 0.65
) -> dict[str, list[int]]:
    """The list rule with caps: stage -> checkpoint indices."""
    labels = list_labels(perf, early_max, mid_max)
    return {
        s: cap_stage(list(np.flatnonzero(labels == k)), s, max_per_stage)
        for k, s in enumerate(STAGES)
    }


def auto_select(
    perf: np.ndarray,
    max_per_stage: int,
    window: int = 9,
    tol: float = 0.05,
    early_centre: float = 0.35,
    mid_centre: float = 0.65,
    mature_min: float = 0.90,
) -> dict[str, list[int]]:
    """The original's range_auto_select: forward-smoothed perf, then window membership."""
    perf = np.asarray(perf, float)
    n = perf.size
    found: dict[str, list[int]] = {s: [] for s in STAGES}
    for i in range(n):
        s_i = perf[i : i + window + 1].mean()
        members = list(range(i, min(n, i + window + 1)))
        if abs(s_i - early_centre) <= tol:
            found["early"] += members
        if abs(s_i - mid_centre) <= tol:
            found["mid"] += members
        if s_i >= mature_min:
            found["mature"] += members
    return {s: cap_stage(v, s, max_per_stage) for s, v in found.items()}


def representative(perf: np.ndarray, members: list[int], stage: str) -> int | None:
    """Member whose perf is closest to the stage's reference perf (None if empty)."""
    if not members:
        return None
    perf = np.asarray(perf, float)
    return int(min(members, key=lambda i: (abs(perf[i] - REPRESENTATIVE_PERF[stage]), i)))


def read_log(path: str) -> dict[str, np.ndarray]:
    """The training log CSV as columns of floats."""
    with open(path) as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        raise ValueError(f"training log {path} is empty")
    return {k: np.array([float(r[k]) for r in rows]) for k in rows[0]}


def stages_stage(params: dict[str, Any], log_csv_path: str, stages_json_path: str) -> dict:
    """Stage ``maturation_stages``: per trained task, the checkpoints (trial numbers) per stage."""
    data = read_log(log_csv_path)
    trials = data["trials"].astype(int)
    method = params["method"]
    out: dict[str, Any] = {"method": method, "trials": trials.tolist(), "tasks": {}}
    tasks = [k[len("perf_") :] for k in data if k.startswith("perf_") and k != "perf_min"]
    tasks = [t for t in tasks if t != "avg"]
    for task in tasks:
        perf = data[f"perf_{task}"]
        if method == "list":
            sel = list_select(perf, params["max_per_stage"], params["early_max"], params["mid_max"])
        elif method == "auto":
            sel = auto_select(perf, params["max_per_stage"], params["auto_window"])
        else:
            raise ValueError(f"maturation.stages.method must be list or auto, got {method!r}")
        entry: dict[str, Any] = {}
        for s in STAGES:
            rep = representative(perf, sel[s], s)
            entry[s] = {
                "trials": [int(trials[i]) for i in sel[s]],
                "perf": [float(perf[i]) for i in sel[s]],
                "mean_perf": float(perf[sel[s]].mean()) if sel[s] else None,
                "representative": None if rep is None else int(trials[rep]),
                "representative_perf": None if rep is None else float(perf[rep]),
            }
            if not sel[s]:
                log.warning("task %s: stage %s has no checkpoint", task, s)
        other = (
            auto_select(perf, params["max_per_stage"], params["auto_window"])
            if method == "list"
            else list_select(perf, params["max_per_stage"], params["early_max"], params["mid_max"])
        )
        entry["other_rule"] = {s: [int(trials[i]) for i in other[s]] for s in STAGES}
        out["tasks"][task] = entry
    write_json(stages_json_path, out)
    return out


def stage_or_fallback(rep_trials: np.ndarray, wanted: str) -> int:
    """Index of ``wanted`` if it has a representative checkpoint, else the most mature
    stage that has one (a short or failed run may never reach 'mature'); warns."""
    rep_trials = np.asarray(rep_trials)
    k = STAGES.index(wanted)
    if rep_trials.size and rep_trials[k] >= 0:
        return k
    for j in range(len(STAGES) - 1, -1, -1):
        if rep_trials.size and rep_trials[j] >= 0:
            log.warning("stage %s has no checkpoint; using %s instead", wanted, STAGES[j])
            return j
    raise ValueError("no stage has a representative checkpoint (is the task in detail_tasks?)")
