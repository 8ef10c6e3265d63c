"""Tap detection on an output trace without knowledge of the target period.

The original ZRNN code band-passes the output around the *nominal* period before peak
picking, which pulls the measured period toward the target and is undefined for
P ≤ 0.1 s (rhythm.md §5.1, §13). Here the only assumptions are a refractory minimum
interval and an optional zero-phase low-pass with a fixed cutoff well above every
tempo, both independent of the period being measured. Peak times are refined by
parabolic interpolation, so intervals are not quantised to dt.

A trace counts as oscillating only with real rhythm (rhythm.md §17): enough taps, enough
amplitude and regular intervals (CV below a bound).

This is the rhythm task's behavioural readout ("a tap is an output peak", rhythm.md §3), so
it lives with the task: training uses it to select checkpoints, analysis to evaluate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import signal as sps


@dataclass(frozen=True)
class TapDetector:
    """Detector settings (the ``taps`` params section)."""

    min_interval_s: float = 0.04
    smooth_hz: float = 40.0
    prominence_frac: float = 0.5
    min_amplitude: float = 0.3
    max_cv: float = 0.15
    min_taps: int = 4

    @classmethod
    def from_params(cls, section: dict[str, Any]) -> TapDetector:
        return cls(**section)


@dataclass
class TapResult:
    """Detected taps of one trace; times in seconds."""

    tap_times_s: np.ndarray
    amplitude: float
    oscillating: bool
    intervals_s: np.ndarray = field(init=False)
    mean_interval_s: float = field(init=False)
    cv: float = field(init=False)

    def __post_init__(self) -> None:
        self.intervals_s = np.diff(self.tap_times_s)
        if self.intervals_s.size:
            self.mean_interval_s = float(self.intervals_s.mean())
            self.cv = float(self.intervals_s.std() / self.intervals_s.mean())
        else:
            self.mean_interval_s = float("nan")
            self.cv = float("nan")


def _parabolic_offset(y: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Sub-sample peak offset in [-0.5, 0.5] from the three samples around each index."""
    inner = (idx > 0) & (idx < len(y) - 1)
    offset = np.zeros(len(idx))
    i = idx[inner]
    left, mid, right = y[i - 1], y[i], y[i + 1]
    denom = left - 2 * mid + right
    with np.errstate(divide="ignore", invalid="ignore"):
        off = np.where(denom < 0, 0.5 * (left - right) / denom, 0.0)
    offset[inner] = np.clip(off, -0.5, 0.5)
    return offset


def detect_taps(trace: np.ndarray, dt_s: float, detector: TapDetector | None = None) -> TapResult:
    """Find output peaks ("taps") in a 1-D trace sampled every ``dt_s`` seconds."""
    det = detector or TapDetector()
    y = np.asarray(trace, dtype=np.float64).ravel()
    if y.size < 8:
        raise ValueError(f"detect_taps: trace too short ({y.size} samples)")
    nyquist = 0.5 / dt_s
    if 0 < det.smooth_hz < nyquist and y.size > 30:
        sos = sps.butter(2, det.smooth_hz / nyquist, btype="low", output="sos")
        y = sps.sosfiltfilt(sos, y)
    lo, hi = np.percentile(y, [1, 99])
    amplitude = float(hi - lo)
    if amplitude <= 1e-9:
        return TapResult(np.empty(0), amplitude, False)
    distance = max(1, int(round(det.min_interval_s / dt_s)))
    peaks, _ = sps.find_peaks(y, prominence=det.prominence_frac * amplitude, distance=distance)
    times = (peaks + _parabolic_offset(y, peaks)) * dt_s
    result = TapResult(times, amplitude, False)
    result.oscillating = bool(
        len(times) >= det.min_taps
        and amplitude >= det.min_amplitude
        and np.isfinite(result.cv)
        and result.cv <= det.max_cv
    )
    return result


NOT_OSCILLATING_ERROR = 1.0


def continuation_metrics(
    outputs: np.ndarray,
    periods_s: np.ndarray,
    dt_s: float,
    discard_s: float,
    detector: TapDetector,
) -> dict[str, Any]:
    """Per-tempo interval statistics and the MARE from pulse-free outputs (n_periods, T)."""
    start = int(round(discard_s / dt_s))
    per_tempo: dict[str, float] = {}
    rows: list[dict[str, Any]] = []
    abs_errors = []
    tap_times_s = []
    for period, trace in zip(periods_s, outputs, strict=True):
        taps = detect_taps(trace[start:], dt_s, detector)
        tap_times_s.append(taps.tap_times_s + start * dt_s)
        rel = (taps.mean_interval_s - period) / period if taps.oscillating else float("nan")
        abs_errors.append(abs(rel) if taps.oscillating else NOT_OSCILLATING_ERROR)
        key = f"{period:g}"
        per_tempo[key] = rel
        rows.append(
            {
                "period_s": float(period),
                "mean_interval_s": taps.mean_interval_s,
                "interval_cv": taps.cv,
                "relative_error": rel,
                "n_taps": int(len(taps.tap_times_s)),
                "amplitude": taps.amplitude,
                "oscillating": taps.oscillating,
            }
        )
    return {
        "mare": float(np.mean(abs_errors)),
        "n_oscillating": int(sum(r["oscillating"] for r in rows)),
        "n_tempos": len(rows),
        "mean_amplitude": float(np.mean([r["amplitude"] for r in rows])),
        "per_tempo": per_tempo,
        "rows": rows,
        "tap_times_s": tap_times_s,
    }
