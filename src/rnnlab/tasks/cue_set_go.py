"""Cue-Set-Go (CSG) interval-production trials (Wang, Narain, Hosseini & Jazayeri 2018).

Two input channels:

- channel 0, the *Cue*: 0 until ``cue_onset_ms``, then a tonic analog level mapped linearly
  from the target interval (``cue_min`` at ``cue_interval_min_ms`` … ``cue_max`` at
  ``cue_interval_max_ms``; the same line is extended outside the trained range, so
  extrapolation tests use cue levels the network never saw), optionally with white noise;
- channel 1, *Set*: a ``set_width_ms`` pulse of ``set_amplitude`` at ``cue onset + delay``,
  delay ~ U(set_delay_min_ms, set_delay_max_ms).

Target: 0 until Set, then a linear ramp ``threshold · (t − t_set) / T`` that crosses the
fixed ``threshold`` at the target interval T and is followed for ``ramp_overshoot · T`` more;
later samples are masked out (cost 0). The produced interval is the first upward threshold
crossing after Set (linear interpolation between steps); an output that never crosses within
the evaluation window is a *no-cross* trial.

Scaled down from the paper (500–1700 ms, 16 intervals) by default so training fits a laptop;
every number is a parameter. Draws come only from the ``torch.Generator`` passed in.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

CUE_CHANNEL = 0
SET_CHANNEL = 1


@dataclass(frozen=True)
class CSGTaskConfig:
    """Trial geometry; times in ms (the ``condense.task`` params section)."""

    train_intervals_ms: tuple[float, ...] = (300.0, 400.0, 500.0, 600.0, 700.0, 800.0)
    dt_ms: float = 1.0
    cue_onset_ms: float = 50.0
    cue_min: float = 0.1
    cue_max: float = 0.6
    cue_interval_min_ms: float = 300.0
    cue_interval_max_ms: float = 800.0
    cue_noise_std: float = 0.0
    set_delay_min_ms: float = 100.0
    set_delay_max_ms: float = 200.0
    set_width_ms: float = 10.0
    set_amplitude: float = 1.0
    threshold: float = 1.0
    ramp_overshoot: float = 0.2

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "train_intervals_ms", tuple(float(v) for v in self.train_intervals_ms)
        )
        checks = [
            (self.dt_ms > 0, "dt_ms must be > 0"),
            (len(self.train_intervals_ms) > 0, "train_intervals_ms must not be empty"),
            (all(v > 0 for v in self.train_intervals_ms), "train_intervals_ms must be > 0"),
            (self.cue_onset_ms >= 0, "cue_onset_ms must be >= 0"),
            (
                self.cue_interval_max_ms > self.cue_interval_min_ms,
                "cue_interval_max_ms must exceed cue_interval_min_ms",
            ),
            (
                0 <= self.set_delay_min_ms <= self.set_delay_max_ms,
                "need 0 <= set_delay_min_ms <= set_delay_max_ms",
            ),
            (self.set_width_ms >= self.dt_ms, "set_width_ms must be >= dt_ms"),
            (self.threshold > 0, "threshold must be > 0"),
            (self.ramp_overshoot >= 0, "ramp_overshoot must be >= 0"),
            (self.cue_noise_std >= 0, "cue_noise_std must be >= 0"),
        ]
        for ok, msg in checks:
            if not ok:
                raise ValueError(f"CSGTaskConfig: {msg}")

    @classmethod
    def from_params(cls, section: dict[str, Any]) -> CSGTaskConfig:
        return cls(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in section.items()})

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["train_intervals_ms"] = list(self.train_intervals_ms)
        return d

    def cue_for_interval(self, interval_ms: float | np.ndarray) -> float | np.ndarray:
        """Tonic cue level for a target interval (linear map, extended beyond the range)."""
        frac = (np.asarray(interval_ms, dtype=np.float64) - self.cue_interval_min_ms) / (
            self.cue_interval_max_ms - self.cue_interval_min_ms
        )
        out = self.cue_min + frac * (self.cue_max - self.cue_min)
        return float(out) if np.ndim(out) == 0 else out

    def steps(self, ms: float) -> int:
        return int(round(ms / self.dt_ms))


@dataclass
class CSGBatch:
    """Inputs (B, T, 2), target (B, T, 1), cost mask (B, T) and per-trial timing."""

    inputs: torch.Tensor
    target: torch.Tensor
    mask: torch.Tensor
    interval_ms: np.ndarray
    set_step: np.ndarray
    cue_level: np.ndarray


def build_trials(
    cfg: CSGTaskConfig,
    interval_ms: np.ndarray | list[float],
    set_delay_ms: np.ndarray | list[float],
    *,
    n_steps: int | None = None,
    generator: torch.Generator | None = None,
) -> CSGBatch:
    """Trials for given target intervals and Cue→Set delays (one row each).

    ``n_steps`` defaults to the longest trial's Set + (1 + overshoot)·T. Cue noise is drawn
    from ``generator`` when ``cfg.cue_noise_std > 0`` and a generator is given.
    """
    intervals = np.asarray(interval_ms, dtype=np.float64).ravel()
    delays = np.asarray(set_delay_ms, dtype=np.float64).ravel()
    if intervals.shape != delays.shape:
        raise ValueError("build_trials: interval_ms and set_delay_ms must have the same length")
    if np.any(intervals <= 0):
        raise ValueError("build_trials: intervals must be > 0")
    onset = cfg.steps(cfg.cue_onset_ms)
    set_step = onset + np.round(delays / cfg.dt_ms).astype(int)
    ramp_end = set_step + np.ceil(intervals * (1 + cfg.ramp_overshoot) / cfg.dt_ms).astype(int)
    total = int(ramp_end.max()) + 1 if n_steps is None else int(n_steps)
    if total <= int(set_step.max()) + cfg.steps(cfg.set_width_ms):
        raise ValueError(f"build_trials: n_steps={total} ends before the Set pulse does")
    batch = intervals.size
    t = torch.arange(total, dtype=torch.float32).unsqueeze(0)  # (1, T)
    cue = torch.as_tensor(cfg.cue_for_interval(intervals), dtype=torch.float32).reshape(-1, 1)
    cue_on = (t >= onset).float()
    cue_trace = cue * cue_on
    if cfg.cue_noise_std > 0 and generator is not None:
        noise = torch.randn((batch, total), generator=generator) * cfg.cue_noise_std
        cue_trace = cue_trace + noise * cue_on
    s = torch.as_tensor(set_step, dtype=torch.float32).reshape(-1, 1)
    width = cfg.steps(cfg.set_width_ms)
    set_trace = ((t >= s) & (t < s + width)).float() * cfg.set_amplitude
    inputs = torch.stack([cue_trace, set_trace], dim=-1)
    since = (t - s) * cfg.dt_ms  # ms since Set
    iv = torch.as_tensor(intervals, dtype=torch.float32).reshape(-1, 1)
    ramp = torch.clamp(since / iv, min=0.0) * cfg.threshold
    e = torch.as_tensor(ramp_end, dtype=torch.float32).reshape(-1, 1)
    mask = (t <= e).float()
    target = (ramp * mask).unsqueeze(-1)
    return CSGBatch(
        inputs=inputs,
        target=target,
        mask=mask,
        interval_ms=intervals,
        set_step=set_step,
        cue_level=np.asarray(cfg.cue_for_interval(intervals), dtype=np.float64).reshape(-1),
    )


def sample_batch(cfg: CSGTaskConfig, batch_size: int, generator: torch.Generator) -> CSGBatch:
    """Training batch: intervals drawn from the trained set, delays uniform, seeded."""
    if batch_size < 1:
        raise ValueError("sample_batch: batch_size must be >= 1")
    levels = torch.as_tensor(cfg.train_intervals_ms, dtype=torch.float64)
    idx = torch.randint(len(levels), (batch_size,), generator=generator)
    u = torch.rand(batch_size, generator=generator, dtype=torch.float64)
    delays = cfg.set_delay_min_ms + u * (cfg.set_delay_max_ms - cfg.set_delay_min_ms)
    return build_trials(cfg, levels[idx].numpy(), delays.numpy(), generator=generator)


def eval_trials(
    cfg: CSGTaskConfig, interval_ms: np.ndarray | list[float], window_factor: float = 2.0
) -> CSGBatch:
    """Noise-free evaluation trials: mid delay, run to Set + ``window_factor`` · T_max."""
    intervals = np.asarray(interval_ms, dtype=np.float64).ravel()
    delay = 0.5 * (cfg.set_delay_min_ms + cfg.set_delay_max_ms)
    onset = cfg.steps(cfg.cue_onset_ms)
    n_steps = onset + cfg.steps(delay) + int(math.ceil(window_factor * intervals.max() / cfg.dt_ms))
    return build_trials(cfg, intervals, np.full(intervals.shape, delay), n_steps=n_steps + 1)


def produced_intervals_ms(
    output: np.ndarray, set_step: np.ndarray, threshold: float, dt_ms: float
) -> np.ndarray:
    """First upward threshold crossing after Set, in ms since Set (NaN if none).

    ``output`` (B, T); a trial whose output is already above threshold at Set counts as a
    crossing at 0 ms. Sub-step precision by linear interpolation.
    """
    out = np.asarray(output, dtype=np.float64)
    if out.ndim != 2:
        raise ValueError("produced_intervals_ms: output must be (batch, time)")
    res = np.full(out.shape[0], np.nan)
    for b in range(out.shape[0]):
        s = int(set_step[b])
        seg = out[b, s:]
        above = np.nonzero(seg >= threshold)[0]
        if above.size == 0:
            continue
        k = int(above[0])
        if k == 0:
            res[b] = 0.0
            continue
        y0, y1 = seg[k - 1], seg[k]
        frac = (threshold - y0) / (y1 - y0) if y1 != y0 else 1.0
        res[b] = (k - 1 + frac) * dt_ms
    return res
