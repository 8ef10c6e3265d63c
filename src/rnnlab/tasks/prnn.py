"""Period-estimation trials for the PRNN (reference rhythm.md §8.2, with the §13 fixes).

The input is the pulse train alone (the rhythm task's stimulus channel, built by
:func:`rnnlab.tasks.rhythm.build_trials`); the target is the true period P at every step.
A trial of ``length`` steps has pulses while ``k P < sync window`` (measured from the onset),
then a pulse-free continuation up to its end. Training trials have a variable duration
(uniform over ``[min_duration_s, max_duration_s]``, in whole steps) and a synchronisation
window of ``sync_fraction`` times their duration (the original: floor(D / 2) s).

Documented choices (differences from the original):

* **Mask.** The period is unknowable before two pulses have been seen, so the loss and every
  metric use only the *valid* steps: from the first step of the second pulse (inclusive; the
  first inter-pulse interval is then observed) to the last step of the trial. Padding and the
  ill-posed start are never trained on (the original trained on ``P`` from step 0). A trial
  with fewer than two pulses has no valid step and contributes nothing.
* **Time step.** ``dt_s`` is a parameter. The laptop default is 10 ms (a 10-ms pulse is one
  sample; the paper preset keeps 1 ms): the LSTM needs no 1-ms resolution, and 10x fewer steps
  make CPU training feasible. Pulse onsets are rounded up to the step grid, so inter-pulse
  intervals jitter by one step; the net has to average them.
* **Clean splits.** Train, validation and test periods are generated from params on a grid of
  ``grid_s``: ``n_train`` evenly spaced training periods over ``[min_s, max_s]``, then seeded
  draws without replacement for validation and test from the grid points at least
  ``min_gap_s`` from every training period; :func:`check_disjoint` enforces it (the original
  validated on its training period 0.55 s).
* **Seeds.** Every draw comes from a seeded ``torch.Generator``; validation and test sets are
  fixed files.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from rnnlab.tasks.rhythm import load_set, save_set

_EPS = 1e-9


@dataclass(frozen=True)
class PeriodSplit:
    """How the disjoint train / validation / test period sets are generated."""

    min_s: float = 0.02
    max_s: float = 1.0
    grid_s: float = 0.001
    n_train: int = 40
    n_val: int = 30
    n_test: int = 53
    min_gap_s: float = 0.005
    seed: int = 141

    def __post_init__(self) -> None:
        if not 0 < self.min_s < self.max_s:
            raise ValueError("PeriodSplit: need 0 < min_s < max_s")
        if self.grid_s <= 0 or self.min_gap_s < 0:
            raise ValueError("PeriodSplit: need grid_s > 0 and min_gap_s >= 0")
        if min(self.n_train, self.n_val, self.n_test) < 1 or self.n_train < 2:
            raise ValueError("PeriodSplit: need n_train >= 2 and n_val, n_test >= 1")


@dataclass(frozen=True)
class PRNNTaskConfig:
    """Pulse-train geometry and training-trial durations; times in seconds."""

    dt_s: float = 0.01
    pulse_width_s: float = 0.01
    pulse_amplitude: float = 1.0
    onset_min_s: float = 0.0
    onset_max_s: float = 0.1
    min_duration_s: float = 2.0
    max_duration_s: float = 12.0
    sync_fraction: float = 0.5
    periods: PeriodSplit = field(default_factory=PeriodSplit)

    def __post_init__(self) -> None:
        if isinstance(self.periods, dict):
            object.__setattr__(self, "periods", PeriodSplit(**self.periods))
        checks = [
            (self.dt_s > 0, "dt_s must be > 0"),
            (self.pulse_width_s > 0, "pulse_width_s must be > 0"),
            (0 <= self.onset_min_s <= self.onset_max_s, "need 0 <= onset_min_s <= onset_max_s"),
            (
                self.dt_s < self.min_duration_s <= self.max_duration_s,
                "need dt_s < min_duration_s <= max_duration_s",
            ),
            (0 < self.sync_fraction <= 1, "sync_fraction must be in (0, 1]"),
            (
                self.periods.min_s >= self.pulse_width_s + self.dt_s - _EPS,
                "periods.min_s must be >= pulse_width_s + dt_s (pulses would merge)",
            ),
        ]
        for ok, msg in checks:
            if not ok:
                raise ValueError(f"PRNNTaskConfig: {msg}")

    @property
    def min_steps(self) -> int:
        return int(round(self.min_duration_s / self.dt_s))

    @property
    def max_steps(self) -> int:
        return int(round(self.max_duration_s / self.dt_s))

    def steps(self, seconds: float) -> int:
        return int(round(seconds / self.dt_s))

    @classmethod
    def from_params(cls, section: dict[str, Any]) -> PRNNTaskConfig:
        values = dict(section)
        values["periods"] = PeriodSplit(**values.get("periods", {}))
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------------------------------------
# period sets


def period_sets(split: PeriodSplit) -> dict[str, np.ndarray]:
    """Disjoint ``train`` / ``val`` / ``test`` period arrays (sorted, seconds).

    Training periods: ``n_train`` evenly spaced grid points over ``[min_s, max_s]``.
    Validation, then test: seeded draws without replacement from the grid points whose
    distance to every training period is at least ``max(min_gap_s, grid_s)``.
    """
    i_min = int(round(split.min_s / split.grid_s))
    i_max = int(round(split.max_s / split.grid_s))
    train_idx = np.unique(np.round(np.linspace(i_min, i_max, split.n_train)).astype(np.int64))
    if len(train_idx) != split.n_train:
        raise ValueError(
            f"period grid {split.grid_s} s too coarse for {split.n_train} training periods"
        )
    gap = max(1, int(math.ceil(split.min_gap_s / split.grid_s - 1e-6)))
    grid = np.arange(i_min, i_max + 1, dtype=np.int64)
    dist = np.abs(grid[:, None] - train_idx[None, :]).min(axis=1)
    pool = grid[dist >= gap]
    need = split.n_val + split.n_test
    if len(pool) < need:
        raise ValueError(
            f"only {len(pool)} grid periods are >= {split.min_gap_s} s from every training "
            f"period; n_val + n_test = {need}. Refine grid_s or lower min_gap_s."
        )
    gen = torch.Generator().manual_seed(int(split.seed))
    order = torch.randperm(len(pool), generator=gen).numpy()
    val_idx = np.sort(pool[order[: split.n_val]])
    test_idx = np.sort(pool[order[split.n_val : need]])

    def seconds(idx: np.ndarray) -> np.ndarray:
        return np.round(idx * split.grid_s, 9)

    sets = {"train": seconds(train_idx), "val": seconds(val_idx), "test": seconds(test_idx)}
    check_disjoint(sets, tol_s=0.5 * split.grid_s)
    return sets


def check_disjoint(sets: dict[str, np.ndarray], tol_s: float = 1e-6) -> None:
    """Raise ``ValueError`` if any two period sets share a period (within ``tol_s``)."""
    names = list(sets)
    for a in range(len(names)):
        for b in range(a + 1, len(names)):
            x, y = np.asarray(sets[names[a]]), np.asarray(sets[names[b]])
            if x.size == 0 or y.size == 0:
                continue
            close = np.abs(x[:, None] - y[None, :]) < tol_s
            if close.any():
                i, j = np.argwhere(close)[0]
                raise ValueError(
                    f"period sets {names[a]!r} and {names[b]!r} overlap: "
                    f"{x[i]:.6g} s ~ {y[j]:.6g} s"
                )


# ---------------------------------------------------------------------------------------------
# trials


def pulse_onsets(
    task: PRNNTaskConfig,
    periods_s: torch.Tensor,
    onsets_s: torch.Tensor,
    sync_windows_s: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """First step of every pulse, (B, K) int64, and which of the K slots are pulses (bool).

    Pulse k starts at the first step at or after ``T_on + k P`` and exists while
    ``k P < window`` — the rule and float arithmetic of :func:`rnnlab.tasks.rhythm.build_trials`.
    """
    periods = periods_s.to(torch.float64).reshape(-1, 1)
    onsets = onsets_s.to(torch.float64).reshape(-1, 1)
    windows = sync_windows_s.to(torch.float64).reshape(-1, 1)
    n_max = int(math.ceil(float(windows.max()) / float(periods.min()))) + 1
    k = torch.arange(n_max, dtype=torch.float64).reshape(1, -1)
    valid = (k * periods) < windows - _EPS
    first_step = torch.ceil((onsets + k * periods) / task.dt_s - 1e-6).to(torch.int64)
    return first_step, valid


def build_prnn_trials(
    task: PRNNTaskConfig,
    periods_s: torch.Tensor,
    onsets_s: torch.Tensor,
    lengths: torch.Tensor,
    sync_windows_s: torch.Tensor,
) -> dict[str, torch.Tensor]:
    """Padded trials for given periods, onsets, lengths (steps) and sync windows (s).

    Returns ``pulses`` (B, T) float32 (0 beyond each length), ``target`` (B, T) float32 = P,
    ``mask`` (B, T) bool (valid steps, see the module doc), ``lengths`` (B,) int64,
    ``first_valid`` (B,) int64 (first step of the second pulse; ``length`` if none) and
    ``sync_end`` (B,) int64 (first step of the continuation).

    The pulse channel equals the stimulus channel of ``build_trials`` with a per-trial window
    (``tests/test_prnn.py`` checks it) but is placed by index in O(B K) memory: the broadcast
    (B, T, K) comparison of ``build_trials`` needs ~28 GB for the paper's 52-s test set.
    """
    periods = periods_s.to(torch.float64).reshape(-1)
    lengths = lengths.to(torch.int64).reshape(-1)
    windows = sync_windows_s.to(torch.float64).reshape(-1)
    batch, n_steps = len(periods), int(lengths.max())
    first_step, valid = pulse_onsets(task, periods, onsets_s, windows)
    n_pulses = valid.sum(dim=1)
    width = max(1, int(round(task.pulse_width_s / task.dt_s)))
    rows = torch.arange(batch).reshape(-1, 1).expand_as(first_step)
    on = torch.zeros(batch, n_steps + width, dtype=torch.bool)
    for j in range(width):
        on[rows[valid], first_step[valid] + j] = True
    starts = torch.zeros(batch, n_steps + width, dtype=torch.int64)
    starts[rows[valid], first_step[valid]] = 1
    step = torch.arange(n_steps).reshape(1, -1)
    inside = step < lengths.reshape(-1, 1)
    on = on[:, :n_steps] & inside
    pulse_no = torch.cumsum(starts[:, :n_steps], dim=1)  # pulses begun up to each step
    mask = inside & (pulse_no >= 2)
    first_valid = torch.where(mask.any(dim=1), mask.to(torch.int64).argmax(dim=1), lengths)
    onsets = onsets_s.to(torch.float64).reshape(-1)
    sync_end = torch.ceil((onsets + windows) / task.dt_s - 1e-6).to(torch.int64)
    target = torch.where(inside, periods.reshape(-1, 1), 0.0)
    return {
        "pulses": on.to(torch.float32) * float(task.pulse_amplitude),
        "target": target.to(torch.float32),
        "mask": mask,
        "lengths": lengths,
        "first_valid": first_valid.to(torch.int64),
        "sync_end": torch.minimum(sync_end, lengths),
        "n_pulses": n_pulses.to(torch.int64),
    }


def sample_conditions(
    task: PRNNTaskConfig,
    periods_s: np.ndarray,
    batch_size: int,
    generator: torch.Generator,
) -> dict[str, torch.Tensor]:
    """Random training conditions: period uniform over the set, onset, length, window."""
    periods = torch.as_tensor(np.asarray(periods_s, dtype=np.float64))
    idx = torch.randint(len(periods), (batch_size,), generator=generator)
    onsets = task.onset_min_s + (task.onset_max_s - task.onset_min_s) * torch.rand(
        batch_size, generator=generator, dtype=torch.float64
    )
    lengths = torch.randint(task.min_steps, task.max_steps + 1, (batch_size,), generator=generator)
    return {
        "periods_s": periods[idx],
        "onsets_s": onsets,
        "lengths": lengths,
        "sync_windows_s": task.sync_fraction * lengths.to(torch.float64) * task.dt_s,
    }


def sample_batch(
    task: PRNNTaskConfig, periods_s: np.ndarray, batch_size: int, generator: torch.Generator
) -> dict[str, torch.Tensor]:
    """A fresh random training batch, reproducible through ``generator``."""
    c = sample_conditions(task, periods_s, batch_size, generator)
    return build_prnn_trials(task, c["periods_s"], c["onsets_s"], c["lengths"], c["sync_windows_s"])


def _as_set(
    task: PRNNTaskConfig, cond: dict[str, torch.Tensor], split: str
) -> dict[str, np.ndarray]:
    trials = build_prnn_trials(
        task, cond["periods_s"], cond["onsets_s"], cond["lengths"], cond["sync_windows_s"]
    )
    out = {k: v.numpy() for k, v in trials.items() if k != "target"}
    out.update(
        periods_s=cond["periods_s"].numpy(),
        onsets_s=cond["onsets_s"].numpy(),
        sync_window_s=cond["sync_windows_s"].numpy(),
        dt_s=np.float64(task.dt_s),
        split=np.str_(split),
    )
    return out


def fixed_val_set(
    task: PRNNTaskConfig, periods_s: np.ndarray, trials_per_period: int, seed: int
) -> dict[str, np.ndarray]:
    """Fixed seeded validation set: every period equally often, training-like durations."""
    gen = torch.Generator().manual_seed(int(seed))
    periods = torch.as_tensor(np.asarray(periods_s, dtype=np.float64)).repeat_interleave(
        int(trials_per_period)
    )
    n = len(periods)
    onsets = task.onset_min_s + (task.onset_max_s - task.onset_min_s) * torch.rand(
        n, generator=gen, dtype=torch.float64
    )
    lengths = torch.randint(task.min_steps, task.max_steps + 1, (n,), generator=gen)
    windows = task.sync_fraction * lengths.to(torch.float64) * task.dt_s
    cond = {"periods_s": periods, "onsets_s": onsets, "lengths": lengths, "sync_windows_s": windows}
    return _as_set(task, cond, "val")


def fixed_test_set(
    task: PRNNTaskConfig,
    periods_s: np.ndarray,
    trials_per_period: int,
    duration_s: float,
    sync_s: float,
    seed: int,
) -> dict[str, np.ndarray]:
    """Fixed seeded long test trials: pulses for ``sync_s``, continuation to ``duration_s``."""
    if not 0 < sync_s < duration_s:
        raise ValueError("test set: need 0 < sync_s < duration_s")
    gen = torch.Generator().manual_seed(int(seed))
    periods = torch.as_tensor(np.asarray(periods_s, dtype=np.float64)).repeat_interleave(
        int(trials_per_period)
    )
    n = len(periods)
    onsets = task.onset_min_s + (task.onset_max_s - task.onset_min_s) * torch.rand(
        n, generator=gen, dtype=torch.float64
    )
    lengths = torch.full((n,), task.steps(duration_s), dtype=torch.int64)
    windows = torch.full((n,), float(sync_s), dtype=torch.float64)
    cond = {"periods_s": periods, "onsets_s": onsets, "lengths": lengths, "sync_windows_s": windows}
    out = _as_set(task, cond, "test")
    out.update(duration_s=np.float64(duration_s), sync_s=np.float64(sync_s))
    return out


def write_prnn_sets(
    task_params: dict[str, Any], data_params: dict[str, Any], val_path: str, test_path: str
) -> dict[str, np.ndarray]:
    """Stage ``prnn_data``: fixed, seeded validation and test sets; returns the period sets.

    ``task_params`` is ``rhythm.prnn.task``, ``data_params`` ``rhythm.prnn.data``. Each file
    also stores all three period sets (``train_periods_s`` ...) for provenance.
    """
    task = PRNNTaskConfig.from_params(task_params)
    sets = period_sets(task.periods)
    val = fixed_val_set(
        task, sets["val"], int(data_params["val_trials_per_period"]), int(data_params["val_seed"])
    )
    test = fixed_test_set(
        task,
        sets["test"],
        int(data_params["test_trials_per_period"]),
        float(data_params["test_duration_s"]),
        float(data_params["test_sync_s"]),
        int(data_params["test_seed"]),
    )
    for data in (val, test):
        data.update({f"{k}_periods_s": v for k, v in sets.items()})
    save_set(val_path, val)
    save_set(test_path, test)
    return sets


def load_prnn_set(path: str) -> dict[str, np.ndarray]:
    """A set written by :func:`write_prnn_sets` (no pickles)."""
    data = load_set(path)
    missing = [k for k in ("pulses", "mask", "lengths", "periods_s") if k not in data]
    if missing:
        raise KeyError(f"{path}: not a PRNN set, missing {missing}")
    return data
