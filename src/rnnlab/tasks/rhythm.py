"""Synchronisation–continuation trials for the rhythm models (reference rhythm.md §3).

A trial has two input channels — a pulse train during the synchronisation window and a
tonic context cue ``cue_scale / P`` from stimulus onset on — and a raised-cosine target
``(1 + cos(2π (t − T_on) / P)) / 2`` that peaks (a "tap") at every pulse onset and keeps
going through the pulse-free continuation phase.

Differences from the original generator (documented fixes):
- the synchronisation window is a parameter (``sync_window_s``), not ``floor(duration / 2)``;
- every draw comes from a seeded ``torch.Generator``, never global RNG state;
- the whole batch is built with tensor ops (no per-trial Python loop).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

STIM_CHANNEL = 0
CUE_CHANNEL = 1


@dataclass(frozen=True)
class RhythmTaskConfig:
    """Trial geometry; times in seconds."""

    periods_s: tuple[float, ...] = (0.5, 0.333, 0.25, 0.2, 0.166, 0.143, 0.125)
    dt_s: float = 0.001
    duration_s: float = 2.0
    sync_window_s: float = 1.0
    pulse_width_s: float = 0.01
    pulse_amplitude: float = 1.0
    cue_scale: float = 0.1
    onset_min_s: float = 0.0
    onset_max_s: float = 0.1

    def __post_init__(self) -> None:
        object.__setattr__(self, "periods_s", tuple(float(p) for p in self.periods_s))
        checks = [
            (self.dt_s > 0, "dt_s must be > 0"),
            (self.duration_s > self.dt_s, "duration_s must exceed dt_s"),
            (
                0 <= self.sync_window_s <= self.duration_s,
                "sync_window_s must be in [0, duration_s]",
            ),
            (self.pulse_width_s > 0, "pulse_width_s must be > 0"),
            (0 <= self.onset_min_s <= self.onset_max_s, "need 0 <= onset_min_s <= onset_max_s"),
            (len(self.periods_s) > 0, "periods_s must not be empty"),
            (all(p > 0 for p in self.periods_s), "all periods_s must be > 0"),
        ]
        for ok, msg in checks:
            if not ok:
                raise ValueError(f"RhythmTaskConfig: {msg}")

    @property
    def n_steps(self) -> int:
        return int(round(self.duration_s / self.dt_s))

    def cue_for_period(self, period_s: float | np.ndarray) -> float | np.ndarray:
        return self.cue_scale / period_s

    @classmethod
    def from_params(cls, section: dict[str, Any]) -> RhythmTaskConfig:
        return cls(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in section.items()})

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["periods_s"] = list(self.periods_s)
        return d


def build_trials(
    cfg: RhythmTaskConfig,
    periods_s: torch.Tensor,
    onsets_s: torch.Tensor,
    *,
    n_steps: int | None = None,
    with_pulses: bool = True,
    sync_window_s: float | None = None,
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Deterministic trials for given periods and onsets.

    Returns ``inputs`` (B, T, 2) = [pulses, cue] and ``target`` (B, T, 1).
    ``n_steps`` overrides the trial length (long pulse-free drives use it).
    """
    periods = periods_s.to(torch.float64).reshape(-1, 1)
    onsets = onsets_s.to(torch.float64).reshape(-1, 1)
    steps = cfg.n_steps if n_steps is None else int(n_steps)
    window = cfg.sync_window_s if sync_window_s is None else sync_window_s
    t = torch.arange(steps, dtype=torch.float64).reshape(1, -1) * cfg.dt_s
    since_onset = t - onsets
    # the trial starts at the first step at or after T_on (the same rule as for pulses)
    onset_step = torch.ceil(onsets / cfg.dt_s - 1e-6)
    started = torch.arange(steps, dtype=torch.float64).reshape(1, -1) >= onset_step

    cue = torch.where(started, cfg.cue_scale / periods, torch.zeros_like(since_onset))
    target = torch.where(
        started,
        0.5 * (1.0 + torch.cos(2.0 * math.pi * since_onset / periods)),
        torch.zeros_like(since_onset),
    )

    pulses = torch.zeros_like(since_onset)
    if with_pulses and window > 0:
        # pulse k covers steps [s_k, s_k + width) with s_k = first step at or after T_on + kP,
        # for every k with kP < window (measured from onset), in integer steps (no float drift)
        n_max = int(math.ceil(window / float(periods.min()))) + 1
        k = torch.arange(n_max, dtype=torch.float64).reshape(1, -1)
        valid = (k * periods) < window - 1e-9  # (B, K)
        first_step = torch.ceil((onsets + k * periods) / cfg.dt_s - 1e-6)  # (B, K)
        width = max(1, int(round(cfg.pulse_width_s / cfg.dt_s)))
        step_idx = torch.arange(steps, dtype=torch.float64).reshape(1, -1, 1)
        since_pulse = step_idx - first_step.unsqueeze(1)  # (B, T, K)
        on = ((since_pulse >= 0) & (since_pulse < width) & valid.unsqueeze(1)).any(-1)
        pulses = on.to(torch.float64) * cfg.pulse_amplitude

    inputs = torch.stack([pulses, cue], dim=-1).to(dtype)
    return inputs, target.unsqueeze(-1).to(dtype)


def sample_conditions(
    cfg: RhythmTaskConfig, batch_size: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw (periods, onsets) for a batch: period uniform over the list, onset uniform."""
    periods = torch.tensor(cfg.periods_s, dtype=torch.float64)
    idx = torch.randint(len(periods), (batch_size,), generator=generator)
    onsets = cfg.onset_min_s + (cfg.onset_max_s - cfg.onset_min_s) * torch.rand(
        batch_size, generator=generator, dtype=torch.float64
    )
    return periods[idx], onsets


def sample_batch(
    cfg: RhythmTaskConfig, batch_size: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """A fresh random training batch, reproducible through ``generator``."""
    periods, onsets = sample_conditions(cfg, batch_size, generator)
    return build_trials(cfg, periods, onsets)


def fixed_set(cfg: RhythmTaskConfig, trials_per_period: int, seed: int) -> dict[str, np.ndarray]:
    """A fixed, seeded evaluation set with every period equally represented."""
    gen = torch.Generator().manual_seed(int(seed))
    periods = torch.tensor(cfg.periods_s, dtype=torch.float64).repeat_interleave(trials_per_period)
    onsets = cfg.onset_min_s + (cfg.onset_max_s - cfg.onset_min_s) * torch.rand(
        len(periods), generator=gen, dtype=torch.float64
    )
    inputs, target = build_trials(cfg, periods, onsets)
    return {
        "inputs": inputs.numpy(),
        "target": target.numpy(),
        "periods_s": periods.numpy(),
        "onsets_s": onsets.numpy(),
    }


def save_set(path: str, data: dict[str, np.ndarray]) -> None:
    """Write a trial set as an uncompressed ``.npz`` (no pickled objects)."""
    from rnnlab.io import atomic_write_npz

    atomic_write_npz(path, data)


def load_set(path: str) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def write_rhythm_sets(
    task_params: dict[str, Any], data_params: dict[str, Any], val_path: str, test_path: str
) -> None:
    """Stage ``rhythm_data``: fixed, seeded validation and test sets."""
    task = RhythmTaskConfig.from_params(task_params)
    val = fixed_set(task, int(data_params["val_trials_per_period"]), int(data_params["val_seed"]))
    test = fixed_set(
        task, int(data_params["test_trials_per_period"]), int(data_params["test_seed"])
    )
    save_set(val_path, val)
    save_set(test_path, test)
