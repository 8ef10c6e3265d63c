"""Test-mode activity of the checkpoints, computed once for every downstream analysis.

Test mode (maturation.md §6): 8 cue locations × ``n_repeats`` trials, input noise off,
recurrent noise on (seeded per checkpoint and task). Per task one npz holds:

- ``epoch_means`` (C, trials, epochs, units) float16: per-trial epoch-mean rates of the
  *growth* checkpoints (all, thinned evenly to ``growth_max_checkpoints``, plus every stage
  checkpoint) — enough for selectivity, tuning and delay activity at every checkpoint;
- ``psth`` (K, 8, T, units) float16: location-mean rates of the *stage* checkpoints;
- ``error_deg`` / ``correct`` (K, repeats·trials): final-step angular error to the target
  and success over ``error_repeats`` noisy test batches (saccade-error histograms);
- ODRD: ``distractor_correct`` (K, 8, 8) and ``distractor_error_deg`` (K, 8, 8, reps) for
  every (cue, distractor) pair;
- detail tasks: ``rep_rates`` (3, trials, T, units) float16, the full activity of each
  stage's representative checkpoint (decoding, dPCA, single units).

Hidden states of the whole run are never written (the original pickled GBs).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from rnnlab.analysis.maturation_stages import STAGES
from rnnlab.io import atomic_write_npz, read_json
from rnnlab.tasks.maturation import N_RING, TASKS, angular_error, make_batch, popvec_angle
from rnnlab.train.maturation import checkpoint_name, load_net

log = logging.getLogger(__name__)


def _noise(seed: int, trials: int, task: str, extra: int = 0) -> torch.Generator:
    mixed = (seed * 1_000_003 + trials * 101 + TASKS.index(task) * 7 + extra) % (2**63)
    return torch.Generator().manual_seed(int(mixed))


@torch.no_grad()
def run_test(net: Any, inputs: np.ndarray, gen: torch.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(outputs, rates) as numpy for one test batch; recurrent noise only."""
    net.eval()
    out, rates = net(torch.as_tensor(inputs), noise_generator=gen)
    return out.numpy(), rates.numpy()


def thin(indices: np.ndarray, max_n: int) -> np.ndarray:
    """At most ``max_n`` evenly spaced entries (first and last kept)."""
    if max_n <= 0 or indices.size <= max_n:
        return indices
    pick = np.unique(np.round(np.linspace(0, indices.size - 1, max_n)).astype(int))
    return indices[pick]


def task_activity(
    task: str,
    checkpoints_dir: str,
    stages: dict[str, Any],
    params: dict[str, Any],
    odr_delay_ms: float,
) -> dict[str, np.ndarray]:
    """All arrays of one task's npz (see module docstring)."""
    if task not in stages["tasks"]:
        raise ValueError(f"maturation.activity.tasks: {task!r} was not trained")
    seed = int(params["seed"])
    all_trials = np.asarray(stages["trials"], int)
    st = stages["tasks"][task]
    stage_trials = [t for s in STAGES for t in st[s]["trials"]]
    stage_label = [k for k, s in enumerate(STAGES) for _ in st[s]["trials"]]
    stage_perf = [p for s in STAGES for p in st[s]["perf"]]
    growth = np.union1d(thin(all_trials, int(params["growth_max_checkpoints"])), stage_trials)

    first = load_net(f"{checkpoints_dir}/{checkpoint_name(int(all_trials[0]))}")[0]
    dt_ms = float(first.config.dt_ms)
    rng = np.random.default_rng(seed)
    batch = make_batch(
        task,
        rng,
        dt_ms=dt_ms,
        mode="test",
        n_repeats=int(params["n_repeats"]),
        odr_delay_ms=odr_delay_ms,
    )
    names = list(batch.epochs)
    bounds = np.array([batch.epochs[e] for e in names], int)
    n_tr, n_steps = batch.inputs.shape[:2]
    n_units = int(first.config.n_hidden)
    locs = batch.locations

    def epoch_means(rates: np.ndarray) -> np.ndarray:
        return np.stack([rates[:, a:b].mean(1) for a, b in bounds], 1)  # (trials, E, N)

    em = np.zeros((growth.size, n_tr, len(names), n_units), np.float16)
    perf_growth = np.zeros(growth.size)
    k_stage = len(stage_trials)
    psth = np.zeros((k_stage, N_RING, n_steps, n_units), np.float16)
    reps = int(params["error_repeats"])
    err = np.zeros((k_stage, reps * n_tr), np.float32)
    cor = np.zeros((k_stage, reps * n_tr), bool)
    d_reps = int(params["distractor_repeats"])
    dist_cor = np.zeros((k_stage, N_RING, N_RING))
    dist_err = np.zeros((k_stage, N_RING, N_RING, d_reps), np.float32)
    detail = task in params["detail_tasks"]
    rep_trials = np.full(len(STAGES), -1, int)
    rep_rates = np.zeros((len(STAGES) if detail else 0, n_tr, n_steps, n_units), np.float16)
    for k, s in enumerate(STAGES):
        if st[s]["representative"] is not None:
            rep_trials[k] = int(st[s]["representative"])

    for g, trials in enumerate(tqdm(growth, desc=f"activity {task}", disable=None)):
        net, payload = load_net(f"{checkpoints_dir}/{checkpoint_name(int(trials))}")
        perf_growth[g] = float(payload["perf"].get(task, np.nan))
        _, rates = run_test(net, batch.inputs, _noise(seed, int(trials), task))
        em[g] = epoch_means(rates)
        for k in [k for k, t in enumerate(stage_trials) if t == trials]:
            psth[k] = rates.reshape(N_RING, -1, n_steps, n_units).mean(1)
            for r in range(reps):
                out, _ = run_test(net, batch.inputs, _noise(seed, int(trials), task, 1 + r))
                e = angular_error(popvec_angle(out[:, -1, 1:]), batch.target_angle)
                err[k, r * n_tr : (r + 1) * n_tr] = np.degrees(e)
                fix_ok = out[:, -1, 0] <= 0.5
                cor[k, r * n_tr : (r + 1) * n_tr] = fix_ok & (e < 0.2 * np.pi)
            if task == "odrd" and d_reps > 0:
                cue_locs = np.repeat(np.arange(N_RING), N_RING * d_reps)
                dis_locs = np.tile(np.repeat(np.arange(N_RING), d_reps), N_RING)
                b2 = make_batch(
                    "odrd",
                    rng,
                    dt_ms=dt_ms,
                    mode="test",
                    n_repeats=N_RING * d_reps,
                    distractor_locs=dis_locs,
                )
                assert np.array_equal(b2.locations, cue_locs)
                out, _ = run_test(net, b2.inputs, _noise(seed, int(trials), task, 10_000))
                e = angular_error(popvec_angle(out[:, -1, 1:]), b2.target_angle)
                ok = (out[:, -1, 0] <= 0.5) & (e < 0.2 * np.pi)
                dist_cor[k] = ok.reshape(N_RING, N_RING, d_reps).mean(-1)
                dist_err[k] = np.degrees(e).reshape(N_RING, N_RING, d_reps)
        if detail and trials in rep_trials:
            for k in np.flatnonzero(rep_trials == trials):
                rep_rates[k] = rates
    arrays = {
        "task": np.array(task),
        "dt_ms": np.array(dt_ms),
        "epoch_names": np.array(names),
        "epoch_bounds": bounds,
        "locations": locs,
        "growth_trials": growth,
        "growth_perf": perf_growth,
        "epoch_means": em,
        "stage_trials": np.asarray(stage_trials, int),
        "stage_label": np.asarray(stage_label, int),
        "stage_perf": np.asarray(stage_perf, float),
        "psth": psth,
        "error_deg": err,
        "correct": cor,
        "rep_trials": rep_trials,
        "rep_rates": rep_rates,
    }
    if task == "odrd":
        arrays["distractor_correct"] = dist_cor
        arrays["distractor_error_deg"] = dist_err
    return arrays


def activity_stage(
    params: dict[str, Any],
    task_params: dict[str, Any],
    checkpoints_dir: str,
    stages_json_path: str,
    out_paths: dict[str, str],
    threads: int | None = None,
) -> None:
    """Stage ``maturation_activity``: one npz per task in ``out_paths`` (task -> path)."""
    if threads:
        torch.set_num_threads(int(threads))
    stages = read_json(stages_json_path)
    for task, path in out_paths.items():
        arrays = task_activity(
            task, checkpoints_dir, stages, params, float(task_params["odr_delay_ms"])
        )
        atomic_write_npz(path, arrays)
        log.info(
            "%s: %d growth, %d stage checkpoints -> %s",
            task,
            arrays["growth_trials"].size,
            arrays["stage_trials"].size,
            path,
        )
