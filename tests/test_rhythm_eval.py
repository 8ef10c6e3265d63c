"""Evaluation metrics on signals with known answers (generalisation, synchronisation)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnlab.analysis.rhythm_eval import generalisation_metrics, sync_metrics, untrained_cues
from rnnlab.tasks.rhythm import RhythmTaskConfig, build_trials
from rnnlab.tasks.taps import TapDetector

DT = 0.001


def _row(interval: float, period: float, oscillating: bool = True, cv: float = 0.01) -> dict:
    return {
        "mean_interval_s": interval,
        "relative_error": (interval - period) / period,
        "oscillating": oscillating,
        "interval_cv": cv,
        "n_taps": 50,
    }


def test_untrained_cues_are_seeded_sorted_and_in_range() -> None:
    cues = untrained_cues(60, 0.09, 0.95, seed=3)
    assert len(cues) == 60 and np.all(np.diff(cues) >= 0)
    assert cues.min() >= 0.09 and cues.max() <= 0.95
    np.testing.assert_array_equal(cues, untrained_cues(60, 0.09, 0.95, seed=3))


def test_generalisation_split_and_monotonicity() -> None:
    cues = np.array([0.1, 0.3, 0.5, 0.9])
    periods = 0.1 / cues
    rows = [
        _row(periods[0] * 0.8, periods[0]),  # extrapolation, 20 % short
        _row(periods[1] * 1.02, periods[1]),
        _row(periods[2] * 0.98, periods[2]),
        _row(float("nan"), periods[3], oscillating=False),  # no rhythm: 100 %
    ]
    m = generalisation_metrics(cues, rows, trained_cues=np.array([0.2, 0.8]))
    assert m["monotonic"] is True
    assert m["interp_mare"] == pytest.approx(0.02)
    assert m["extrap_mare"] == pytest.approx((0.2 + 1.0) / 2)
    assert m["oscillating_cue_min"] == 0.1 and m["oscillating_cue_max"] == 0.5
    assert m["fraction_oscillating"] == pytest.approx(0.75)
    assert m["monotonic_strict"] is True and m["spearman_rho"] == pytest.approx(-1.0)
    rows[2] = _row(periods[1] * 1.1, periods[2])  # interval rises with cue: not monotonic
    m = generalisation_metrics(cues, rows, np.array([0.2, 0.8]))
    assert m["monotonic"] is False and m["n_significant_rises"] == 1


def test_a_rise_within_measurement_error_is_not_a_violation() -> None:
    cues = np.array([0.5, 0.5001, 0.6])
    rows = [_row(0.2000, 0.2), _row(0.2002, 0.19996), _row(0.1667, 0.1667)]  # +0.2 ms, SE 0.4 ms
    m = generalisation_metrics(cues, rows, trained_cues=np.array([0.2, 0.8]))
    assert m["monotonic"] is True and m["monotonic_strict"] is False
    rows[1] = _row(0.2050, 0.19996)  # +5 ms: far beyond the error
    assert generalisation_metrics(cues, rows, np.array([0.2, 0.8]))["monotonic"] is False


@pytest.mark.parametrize("lag_ms", [-25.0, 0.0, 15.0])
def test_sync_asynchrony_recovers_a_known_lag(lag_ms: float) -> None:
    task = RhythmTaskConfig(periods_s=(0.25, 0.2))
    periods = torch.tensor([0.25, 0.2, 0.25], dtype=torch.float64)
    onsets = torch.tensor([0.02, 0.05, 0.08], dtype=torch.float64)
    inputs, _ = build_trials(task, periods, onsets)
    t = np.arange(task.n_steps) * DT
    outputs = 0.5 * (
        1
        + np.cos(
            2 * np.pi * (t - onsets.numpy()[:, None] - lag_ms / 1e3) / periods.numpy()[:, None]
        )
    )
    m = sync_metrics(outputs, inputs[..., 0].numpy(), periods.numpy(), DT, TapDetector(), 1)
    assert m["asynchrony_mean_ms"] == pytest.approx(lag_ms, abs=0.5)
    assert m["asynchrony_sd_ms"] < 0.5
    # a perfectly periodic output continues at exactly P
    assert m["first_interval_mare"] == pytest.approx(0.0, abs=0.005)
    expected_pulses = sum(len(np.arange(0, 1.0 - 1e-9, p)) - 1 for p in periods.numpy())
    assert m["n_matched_pulses"] == expected_pulses


def test_sync_first_interval_error_of_a_slowing_output() -> None:
    task = RhythmTaskConfig(periods_s=(0.2,))
    inputs, _ = build_trials(task, torch.tensor([0.2], dtype=torch.float64), torch.tensor([0.0]))
    t = np.arange(task.n_steps) * DT
    # peaks at pulse onsets during sync (0, 0.2, ..., 0.8), then every 0.25 s
    phase = np.where(t < 0.8, t / 0.2, 4 + (t - 0.8) / 0.25)
    outputs = 0.5 * (1 + np.cos(2 * np.pi * phase))[None]
    m = sync_metrics(outputs, inputs[..., 0].numpy(), np.array([0.2]), DT, TapDetector(), 1)
    assert m["first_interval_rel_error_mean"] == pytest.approx(0.25, abs=0.01)
