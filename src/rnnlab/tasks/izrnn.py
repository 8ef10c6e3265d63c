"""IZRNN trials: one pulse train seen at two time steps (reference rhythm.md §10).

The PRNN reads pulses on its own grid (10 ms by default) and the ZRNN integrates at 1 ms; both
trains come from the same periods, onsets and synchronisation windows, placed by index with
the rule of :func:`rnnlab.tasks.prnn.build_prnn_trials` (pulse k starts at the first step at or
after ``T_on + kP`` while ``kP < window``), so the two trains never disagree about which
pulses exist and long trials need O(B K) memory, not O(B T K).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import torch

from rnnlab.tasks.prnn import PRNNTaskConfig, build_prnn_trials
from rnnlab.tasks.rhythm import RhythmTaskConfig, write_rhythm_sets

# the 13 test periods of the original IZRNN evaluation (1-8 Hz)
LISTED_TEST_PERIODS_S = (
    1.0, 0.93, 0.86, 0.75, 0.65, 0.5, 0.46, 0.333, 0.25, 0.2, 0.166, 0.143, 0.125,
)  # fmt: skip


def izrnn_zrnn_task(task_params: dict[str, Any], retrain_params: dict[str, Any]) -> dict[str, Any]:
    """``rhythm.task`` with the tempos of ``rhythm.izrnn.zrnn_retrain``.

    HA-141 retrains the IZRNN's ZRNN on a wider tempo range than the study's ZRNN (rhythm.md
    §9), so the slow listed test periods are not extrapolations; the trials are otherwise the
    study's (``rhythm.task``).
    """
    periods = [float(p) for p in retrain_params["periods_s"]]
    RhythmTaskConfig.from_params({**task_params, "periods_s": periods})  # validates
    return {**task_params, "periods_s": periods}


def write_izrnn_zrnn_sets(
    task_params: dict[str, Any],
    data_params: dict[str, Any],
    retrain_params: dict[str, Any],
    val_path: str,
    test_path: str,
) -> None:
    """Stage ``izrnn_zrnn_data``: the fixed, seeded validation and test sets of the IZRNN's
    ZRNN (the ``rhythm.data`` seeds and sizes over the retraining tempos)."""
    write_rhythm_sets(
        izrnn_zrnn_task(task_params, retrain_params), data_params, val_path, test_path
    )


def step_ratio(prnn_task: PRNNTaskConfig, zrnn_task: RhythmTaskConfig) -> int:
    """ZRNN steps per PRNN step; the PRNN grid must be an integer multiple of the ZRNN's."""
    ratio = prnn_task.dt_s / zrnn_task.dt_s
    if ratio < 1 - 1e-9 or abs(ratio - round(ratio)) > 1e-6:
        raise ValueError(
            f"IZRNN: PRNN dt {prnn_task.dt_s} s must be an integer multiple of the ZRNN dt "
            f"{zrnn_task.dt_s} s"
        )
    return int(round(ratio))


def izrnn_pulse_trains(
    prnn_task: PRNNTaskConfig,
    zrnn_task: RhythmTaskConfig,
    periods_s: np.ndarray,
    onsets_s: np.ndarray,
    duration_s: float,
    sync_s: float,
) -> dict[str, torch.Tensor]:
    """Pulse trains for the PRNN (B, T_p) and the ZRNN (B, T_z = ratio * T_p), float32.

    ``sync_s`` is the pulse window measured from each onset; the rest of the trial is silent.
    The ZRNN train uses the ZRNN task's pulse width and amplitude (what it was trained on).
    """
    ratio = step_ratio(prnn_task, zrnn_task)
    periods = torch.as_tensor(np.asarray(periods_s, dtype=np.float64))
    onsets = torch.as_tensor(np.asarray(onsets_s, dtype=np.float64))
    n_prnn = int(round(duration_s / prnn_task.dt_s))
    windows = torch.full_like(periods, float(sync_s))
    prnn = build_prnn_trials(
        prnn_task, periods, onsets, torch.full_like(periods, n_prnn, dtype=torch.int64), windows
    )
    zrnn_grid = replace(
        prnn_task,
        dt_s=zrnn_task.dt_s,
        pulse_width_s=zrnn_task.pulse_width_s,
        pulse_amplitude=zrnn_task.pulse_amplitude,
    )
    n_zrnn = n_prnn * ratio
    zrnn = build_prnn_trials(
        zrnn_grid, periods, onsets, torch.full_like(periods, n_zrnn, dtype=torch.int64), windows
    )
    return {
        "prnn_pulses": prnn["pulses"],
        "zrnn_pulses": zrnn["pulses"],
        "n_pulses": prnn["n_pulses"],
        "sync_end_zrnn": zrnn["sync_end"],
        "ratio": torch.tensor(ratio),
    }


def random_test_periods(n: int, min_s: float, max_s: float, seed: int) -> np.ndarray:
    """``n`` seeded periods, uniform in frequency between ``1/max_s`` and ``1/min_s``."""
    if n == 0:
        return np.zeros(0)
    rng = np.random.default_rng(seed)
    return np.sort(1.0 / rng.uniform(1.0 / max_s, 1.0 / min_s, size=n))[::-1].copy()
