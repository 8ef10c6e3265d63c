"""The tap detector is unbiased: tested on synthetic signals of known period and noise."""

from __future__ import annotations

import numpy as np
import pytest

from rnnlab.tasks.taps import TapDetector, detect_taps

DT = 0.001


def _signal(period_s: float, seconds: float, noise: float, seed: int, shape: str = "cos"):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds / DT)) * DT
    phase = 2 * np.pi * t / period_s + rng.uniform(0, 2 * np.pi)
    if shape == "cos":
        clean = 0.5 * (1 + np.cos(phase))
    else:  # sharp, asymmetric pulses: still one tap per cycle
        clean = np.exp(4 * (np.cos(phase) - 1)) * (1 + 0.3 * np.sin(phase))
    return clean + noise * rng.standard_normal(t.size)


@pytest.mark.parametrize("period_s", [0.09, 0.125, 0.2, 0.333, 0.5, 0.97])
@pytest.mark.parametrize("shape", ["cos", "pulse"])
def test_period_recovered_without_knowing_it(period_s: float, shape: str) -> None:
    errors = []
    for seed in range(5):
        taps = detect_taps(_signal(period_s, 20.0, 0.05, seed, shape), DT)
        assert taps.oscillating
        errors.append((taps.mean_interval_s - period_s) / period_s)
    # unbiased: mean signed error ~0, every single estimate within 0.5 %
    assert abs(np.mean(errors)) < 1e-3
    assert max(abs(e) for e in errors) < 5e-3


def test_subsample_precision() -> None:
    # a period that is not a multiple of dt is still measured to better than dt/10
    period = 0.2003
    taps = detect_taps(_signal(period, 30.0, 0.0, 0), DT)
    assert abs(taps.mean_interval_s - period) < DT / 10


def test_noise_alone_is_not_a_rhythm() -> None:
    rng = np.random.default_rng(1)
    taps = detect_taps(0.5 + 0.3 * rng.standard_normal(10_000), DT)
    assert not taps.oscillating


def test_flat_and_tiny_signals_are_not_rhythms() -> None:
    assert not detect_taps(np.zeros(5000), DT).oscillating
    small = 0.05 * _signal(0.2, 5.0, 0.0, 0)
    assert not detect_taps(small, DT).oscillating  # amplitude below min_amplitude


def test_irregular_intervals_fail_the_cv_criterion() -> None:
    rng = np.random.default_rng(2)
    times = np.cumsum(rng.uniform(0.08, 0.4, 40))
    t = np.arange(int(times[-1] / DT) + 200) * DT
    trace = np.zeros_like(t)
    for tap in times:
        trace += np.exp(-0.5 * ((t - tap) / 0.01) ** 2)
    result = detect_taps(trace, DT)
    assert result.cv > 0.15 and not result.oscillating


def test_detector_settings_from_params() -> None:
    det = TapDetector.from_params(
        {
            "min_interval_s": 0.05,
            "smooth_hz": 0.0,
            "prominence_frac": 0.4,
            "min_amplitude": 0.2,
            "max_cv": 0.1,
            "min_taps": 3,
        }
    )
    taps = detect_taps(_signal(0.25, 5.0, 0.0, 3), DT, det)
    assert taps.oscillating and abs(taps.mean_interval_s - 0.25) < 1e-3
