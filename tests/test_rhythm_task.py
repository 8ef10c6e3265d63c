"""The synchronisation-continuation trials match reference rhythm.md §3."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnlab.tasks.rhythm import (
    RhythmTaskConfig,
    build_trials,
    fixed_set,
    sample_batch,
)

TASK = RhythmTaskConfig()
# rhythm.md §3 table: pulses in the synchronisation window per period
PULSES_PER_PERIOD = {0.5: 2, 0.333: 4, 0.25: 4, 0.2: 5, 0.166: 7, 0.143: 7, 0.125: 8}


def _pulse_onsets(pulses: np.ndarray) -> np.ndarray:
    return np.flatnonzero(np.diff(np.concatenate([[0.0], pulses])) > 0)


@pytest.mark.parametrize("period", sorted(PULSES_PER_PERIOD))
def test_pulse_count_cue_and_target_peaks(period: float) -> None:
    onset = 0.037
    inputs, target = build_trials(TASK, torch.tensor([period]), torch.tensor([onset]))
    pulses, cue, tgt = inputs[0, :, 0].numpy(), inputs[0, :, 1].numpy(), target[0, :, 0].numpy()
    onsets = _pulse_onsets(pulses)
    assert len(onsets) == PULSES_PER_PERIOD[period]
    # 10-ms pulses of amplitude 1, starting at T_on + kP
    np.testing.assert_allclose(
        onsets * TASK.dt_s, onset + period * np.arange(len(onsets)), atol=1e-3
    )
    assert pulses.max() == pytest.approx(1.0)
    assert int(pulses[onsets[0] : onsets[0] + 20].sum()) == 10
    # cue: 0 before onset, 0.1/P after, through the continuation
    start = int(np.ceil(onset / TASK.dt_s))
    assert np.all(cue[:start] == 0)
    np.testing.assert_allclose(cue[start:], 0.1 / period, rtol=1e-6)
    # raised-cosine target in [0, 1] peaking (=1) at every pulse onset
    assert tgt.min() >= 0 and tgt.max() <= 1
    assert np.all(tgt[onsets] > 0.99)
    assert np.all(tgt[:start] == 0)
    # and it keeps peaking after the last pulse (continuation)
    later = onset + period * (len(onsets) + np.arange(2))
    later = later[later < TASK.duration_s - 0.002]
    assert np.all(tgt[np.round(later / TASK.dt_s).astype(int)] > 0.99)


def test_sync_window_is_a_parameter() -> None:
    task = RhythmTaskConfig(sync_window_s=0.5)
    inputs, _ = build_trials(task, torch.tensor([0.2]), torch.tensor([0.0]))
    assert len(_pulse_onsets(inputs[0, :, 0].numpy())) == 3


def test_batches_are_seeded_and_fresh() -> None:
    a = sample_batch(TASK, 8, torch.Generator().manual_seed(3))
    b = sample_batch(TASK, 8, torch.Generator().manual_seed(3))
    gen = torch.Generator().manual_seed(3)
    first, second = sample_batch(TASK, 8, gen), sample_batch(TASK, 8, gen)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(first[0], second[0])
    assert a[0].shape == (8, 2000, 2) and a[1].shape == (8, 2000, 1)


def test_onsets_are_jittered_within_bounds() -> None:
    data = fixed_set(TASK, 20, seed=5)
    assert data["onsets_s"].min() >= TASK.onset_min_s
    assert data["onsets_s"].max() <= TASK.onset_max_s
    assert data["onsets_s"].std() > 0.01
    counts = {p: int(np.sum(np.isclose(data["periods_s"], p))) for p in TASK.periods_s}
    assert set(counts.values()) == {20}
    again = fixed_set(TASK, 20, seed=5)
    np.testing.assert_array_equal(data["inputs"], again["inputs"])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"dt_s": 0.0},
        {"periods_s": ()},
        {"onset_min_s": 0.2, "onset_max_s": 0.1},
        {"sync_window_s": 5.0},
        {"periods_s": (0.2, -0.1)},
    ],
)
def test_bad_task_config_raises(kwargs: dict) -> None:
    with pytest.raises(ValueError, match="RhythmTaskConfig"):
        RhythmTaskConfig(**kwargs)
