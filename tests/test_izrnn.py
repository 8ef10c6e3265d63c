"""IZRNN: pulse trains on two grids, the cue wiring (gate, clip, hold, smoothing, original
switch), joint fine-tuning (frozen PRNN, exact resume) and the evaluation's error split."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from conftest import ROOT

from rnnlab.analysis.izrnn_eval import (
    IZRNNEvalSettings,
    _mean_abs,
    _metrics,
    delivered_cues,
    evaluate_izrnn,
)
from rnnlab.io import write_csv
from rnnlab.models.izrnn import IZRNN, CueWiring, smooth_periods
from rnnlab.models.zrnn import build_zrnn
from rnnlab.params import ParamsError, load_params, validate_params
from rnnlab.tasks.izrnn import (
    izrnn_pulse_trains,
    izrnn_zrnn_task,
    random_test_periods,
    step_ratio,
    write_izrnn_zrnn_sets,
)
from rnnlab.tasks.prnn import PRNNTaskConfig
from rnnlab.tasks.rhythm import RhythmTaskConfig, build_trials, load_set
from rnnlab.tasks.taps import TapDetector
from rnnlab.train.izrnn import assemble, finetune
from rnnlab.train.prnn import build_prnn

torch.set_num_threads(1)

PRNN_TASK = PRNNTaskConfig(
    dt_s=0.01, min_duration_s=0.8, max_duration_s=1.6,
    periods={"min_s": 0.05, "max_s": 0.3, "grid_s": 0.01, "n_train": 6, "n_val": 3,
             "n_test": 4, "min_gap_s": 0.02, "seed": 3},
)  # fmt: skip
ZRNN_TASK = RhythmTaskConfig(periods_s=(0.25, 0.125), duration_s=0.6, sync_window_s=0.3)
ZRNN_MODEL = {
    "n_hidden": 12, "tau_s": 0.01, "e_fraction": 0.75, "sigma_rec": 0.01, "sigma_in": 0.01,
    "rec_init_gain": 0.1, "frozen_zero_init": False,
}  # fmt: skip
PRNN_INFO = {"periods": {"train": [0.05, 0.3]}, "train": {}}


def _model(wiring: CueWiring | None = None, seed: int = 0) -> IZRNN:
    prnn = build_prnn(
        {"n_hidden": 8, "bias_at_prior_mean": True, "chrono_t_max": 30.0,
         "input_init_scale": 10.0}, np.array([0.05, 0.3]), seed,
    )  # fmt: skip
    zrnn = build_zrnn(ZRNN_MODEL, ZRNN_TASK.dt_s, seed)
    return assemble(prnn, PRNN_TASK, PRNN_INFO, zrnn, ZRNN_TASK, wiring or CueWiring())


def _trains(periods=(0.2, 0.1), duration_s=1.0, sync_s=0.5, onset_s=0.05):
    periods = np.asarray(periods)
    return izrnn_pulse_trains(
        PRNN_TASK, ZRNN_TASK, periods, np.full(periods.shape, onset_s), duration_s, sync_s
    )


# ------------------------------------------------------------------ tasks


def test_izrnn_zrnn_task_changes_only_the_tempos(tmp_path) -> None:
    task = load_params(ROOT / "params.yaml")["rhythm"]["task"]
    retrain = {"periods_s": [1.0, 0.5, 0.125]}
    merged = izrnn_zrnn_task(task, retrain)
    assert merged["periods_s"] == [1.0, 0.5, 0.125]
    assert {k: v for k, v in merged.items() if k != "periods_s"} == {
        k: v for k, v in task.items() if k != "periods_s"
    }
    assert task["periods_s"] != merged["periods_s"]  # the study's task is not modified
    with pytest.raises(ValueError, match="periods_s"):
        izrnn_zrnn_task(task, {"periods_s": [0.5, -0.1]})
    small = {**task, "duration_s": 0.5, "sync_window_s": 0.3}
    data = {"val_trials_per_period": 2, "val_seed": 1, "test_trials_per_period": 1, "test_seed": 2}
    write_izrnn_zrnn_sets(small, data, retrain, str(tmp_path / "v.npz"), str(tmp_path / "t.npz"))
    val, test = load_set(str(tmp_path / "v.npz")), load_set(str(tmp_path / "t.npz"))
    np.testing.assert_allclose(np.sort(val["periods_s"]), [0.125, 0.125, 0.5, 0.5, 1.0, 1.0])
    np.testing.assert_allclose(np.sort(test["periods_s"]), [0.125, 0.5, 1.0])


def test_step_ratio_must_be_an_integer() -> None:
    assert step_ratio(PRNN_TASK, ZRNN_TASK) == 10
    with pytest.raises(ValueError, match="integer multiple"):
        step_ratio(PRNNTaskConfig(dt_s=0.0015, min_duration_s=0.8, max_duration_s=1.6,
                                  periods=PRNN_TASK.periods), ZRNN_TASK)  # fmt: skip


def test_zrnn_pulse_train_is_the_zrnn_task_stimulus() -> None:
    periods, onsets = np.array([0.2, 0.13]), np.array([0.05, 0.031])
    trains = izrnn_pulse_trains(PRNN_TASK, ZRNN_TASK, periods, onsets, 1.0, 0.5)
    inputs, _ = build_trials(
        ZRNN_TASK, torch.as_tensor(periods), torch.as_tensor(onsets), n_steps=1000,
        sync_window_s=0.5,
    )  # fmt: skip
    np.testing.assert_array_equal(trains["zrnn_pulses"].numpy(), inputs[..., 0].numpy())
    assert trains["prnn_pulses"].shape == (2, 100) and trains["zrnn_pulses"].shape == (2, 1000)
    # the same pulses on both grids: every PRNN onset lies within one PRNN step after the ZRNN's
    for b in range(2):
        z_on = np.flatnonzero(np.diff(trains["zrnn_pulses"][b].numpy(), prepend=0) > 0) * 0.001
        p_on = np.flatnonzero(np.diff(trains["prnn_pulses"][b].numpy(), prepend=0) > 0) * 0.01
        assert len(z_on) == len(p_on) == int(trains["n_pulses"][b])
        assert np.all((p_on - z_on >= -1e-9) & (p_on - z_on < 0.01))


def test_random_test_periods_are_seeded_and_in_range() -> None:
    a = random_test_periods(50, 0.125, 1.0, 7)
    np.testing.assert_array_equal(a, random_test_periods(50, 0.125, 1.0, 7))
    assert (
        a.min() >= 0.125
        and a.max() <= 1.0
        and not np.array_equal(a, random_test_periods(50, 0.125, 1.0, 8))
    )


# ------------------------------------------------------------------ wiring


def test_wiring_validation_and_original_switch() -> None:
    with pytest.raises(ValueError, match="mode"):
        CueWiring(mode="joint")
    with pytest.raises(ValueError, match="clip_to"):
        CueWiring(clip_to="both")
    original = CueWiring.from_params(
        {"mode": "original", "clip_to": "prnn", "gate_pulses": 3, "smoothing_s": 0.1,
         "feed_pulses": True}
    )  # fmt: skip
    assert original == CueWiring("original", "none", 0, 0.0, False)


def test_cue_is_gated_until_two_pulses_then_held_causally() -> None:
    model = _model()
    trains = _trains()
    with torch.no_grad():
        out = model.delivered_period(trains["prnn_pulses"])
    onset = np.diff(trains["prnn_pulses"].numpy(), axis=1, prepend=0) > 0
    for b in range(2):
        second = np.flatnonzero(onset[b])[1]  # PRNN step of the 2nd pulse
        cue = out["cue"][b].numpy()
        first_on = np.flatnonzero(cue > 0)[0]
        assert first_on == (second + 1) * 10  # used once that PRNN step is complete
        assert torch.isnan(out["period"][b, :first_on]).all()
        # hold: ZRNN step i uses the PRNN estimate of step i // 10 - 1
        est = out["estimate"][b].clamp(0.05, 0.3).numpy()
        for i in (first_on, first_on + 7, 555, 999):
            assert cue[i] == pytest.approx(0.1 / est[i // 10 - 1], rel=1e-6)
    # causality: changing pulses after PRNN step k leaves the cue up to ZRNN step 10(k+1) alone
    later = trains["prnn_pulses"].clone()
    later[:, 30:] = 0  # pulses run to PRNN step 55
    with torch.no_grad():
        cut = model.delivered_period(later)
    torch.testing.assert_close(cut["cue"][:, :310], out["cue"][:, :310])
    assert not torch.equal(cut["cue"][:, 310:], out["cue"][:, 310:])


def test_clip_bounds_the_cue_and_original_mode_does_not() -> None:
    model = _model()
    with torch.no_grad():
        model.prnn.readout.bias.fill_(-0.5)  # a negative period estimate
        model.prnn.readout.weight.zero_()
    trains = _trains()
    with torch.no_grad():
        bounded = model.delivered_period(trains["prnn_pulses"])["cue"]
        original = _model(CueWiring(mode="original"))
        original.prnn.load_state_dict(model.prnn.state_dict())
        raw = original.delivered_period(trains["prnn_pulses"])["cue"]
    on = bounded > 0
    torch.testing.assert_close(bounded[on], torch.full_like(bounded[on], 0.1 / 0.05))
    torch.testing.assert_close(raw, torch.full_like(raw, 0.1 / -0.5))  # from t = 0, negative


def test_true_period_control_delivers_the_exact_cue() -> None:
    model = _model()
    trains = _trains()
    with torch.no_grad():
        out = model.delivered_period(trains["prnn_pulses"], torch.tensor([0.2, 0.1]))
    assert torch.isnan(out["estimate"]).all()  # the control does not run the PRNN
    for b, period in enumerate((0.2, 0.1)):
        cue = out["cue"][b]
        assert torch.allclose(cue[cue > 0], torch.tensor(0.1 / period))


def test_smoothing_is_a_first_order_low_pass_restarted_at_the_gate() -> None:
    est = torch.tensor([[1.0, 1.0, 2.0, 2.0, 2.0, 2.0]])
    on = torch.tensor([[True, True, True, True, True, True]])
    out = smooth_periods(est, on, 0.5)[0]
    torch.testing.assert_close(out, torch.tensor([1.0, 1.0, 1.5, 1.75, 1.875, 1.9375]))
    gated = torch.tensor([[False, False, True, True, True, True]])
    out = smooth_periods(est, gated, 0.5)[0]
    torch.testing.assert_close(out[2:], torch.tensor([2.0, 2.0, 2.0, 2.0]))


def test_feed_pulses_switch_controls_the_zrnn_stimulus() -> None:
    trains = _trains()
    fed = _model(CueWiring(feed_pulses=True))
    unfed = _model(CueWiring(feed_pulses=False))
    with torch.no_grad():
        a = fed(trains["prnn_pulses"], trains["zrnn_pulses"])
        b = unfed(trains["prnn_pulses"], trains["zrnn_pulses"])
        c = unfed(trains["prnn_pulses"], torch.zeros_like(trains["zrnn_pulses"]))
    torch.testing.assert_close(b["output"], c["output"])  # pulses ignored
    assert not torch.allclose(a["output"], b["output"])
    torch.testing.assert_close(a["cue"], b["cue"])


# ------------------------------------------------------------------ fine-tuning

FINETUNE = {
    "steps": 2, "seed": 4, "batch_size": 2, "lr": 0.01, "grad_clip_norm": 1.0,
    "freeze_prnn": True, "duration_s": 0.6, "sync_s": 0.3, "device": "cpu",
}  # fmt: skip


def _params(module: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


@pytest.mark.parametrize("freeze", [True, False])
def test_finetune_trains_the_zrnn_and_the_prnn_only_when_unfrozen(tmp_path, freeze) -> None:
    model = _model()
    prnn0, zrnn0 = _params(model.prnn), _params(model.zrnn)
    curve = finetune(
        model, PRNN_TASK, ZRNN_TASK, dict(FINETUNE, freeze_prnn=freeze), str(tmp_path / "r.pt")
    )
    assert [row["step"] for row in curve] == [1, 2] and all(np.isfinite(r["loss"]) for r in curve)
    assert any(not torch.equal(a, b) for a, b in zip(zrnn0, _params(model.zrnn), strict=True))
    prnn_same = all(torch.equal(a, b) for a, b in zip(prnn0, _params(model.prnn), strict=True))
    assert prnn_same == freeze


def test_finetune_resumes_exactly(tmp_path) -> None:
    whole = _model()
    finetune(whole, PRNN_TASK, ZRNN_TASK, dict(FINETUNE, steps=3), str(tmp_path / "a.pt"))
    split = _model()
    resume = str(tmp_path / "b.pt")
    first = finetune(split, PRNN_TASK, ZRNN_TASK, dict(FINETUNE, steps=1), resume)
    fresh = _model()  # a new process: weights come from the resume file
    curve = finetune(fresh, PRNN_TASK, ZRNN_TASK, dict(FINETUNE, steps=3), resume)
    assert curve[0] == first[0] and len(curve) == 3
    for a, b in zip(_params(whole), _params(fresh), strict=True):
        torch.testing.assert_close(a, b)


# ------------------------------------------------------------------ evaluation

EVAL = {
    "device": "cpu", "periods_s": [0.3, 0.25, 0.125], "n_random": 2, "random_min_s": 0.125,
    "random_max_s": 0.3, "random_seed": 5, "duration_s": 2.5, "sync_s": 0.8, "discard_s": 0.2,
    "onset_s": 0.05, "noise": True, "noise_seed": 9, "batch_size": 2,
    "activity_window_s": 0.5, "trace_periods_s": [0.25], "trace_points": 50,
    "flow_periods_s": [0.25],
}  # fmt: skip


def test_error_split_metrics_on_constructed_rows() -> None:
    rows = [
        {"period_s": 0.5, "listed": True, "prnn_rel_error": 0.1, "izrnn_rel_error": -0.2,
         "izrnn_oscillating": True, "zrnn_rel_error": 0.05, "zrnn_oscillating": True,
         "delivered_cue": 0.2, "izrnn_interval_s": 0.4},
        {"period_s": 0.25, "listed": True, "prnn_rel_error": -0.3, "izrnn_rel_error": float("nan"),
         "izrnn_oscillating": False, "zrnn_rel_error": float("nan"), "zrnn_oscillating": False,
         "delivered_cue": 0.4, "izrnn_interval_s": float("nan")},
    ]  # fmt: skip
    m = _metrics(rows, IZRNNEvalSettings.from_params(EVAL))
    assert m["continuation"]["mare"] == pytest.approx((0.2 + 1.0) / 2)  # no oscillation = 100 %
    assert m["error_split"]["prnn"] == pytest.approx(0.2)
    assert m["error_split"]["zrnn"] == pytest.approx((0.05 + 1.0) / 2)
    assert m["continuation"]["n_oscillating"] == 1 and m["continuation"]["random_mare"] is None
    assert _mean_abs([], []) != _mean_abs([], [])  # NaN for nothing


def test_evaluation_rows_activity_and_seeded_repeatability() -> None:
    model = _model()
    settings = IZRNNEvalSettings.from_params(EVAL)
    a = evaluate_izrnn(model, PRNN_TASK, ZRNN_TASK, settings, TapDetector())
    b = evaluate_izrnn(model, PRNN_TASK, ZRNN_TASK, settings, TapDetector())
    assert len(a["rows"]) == 5 and sum(r["listed"] for r in a["rows"]) == 3
    for ra, rb in zip(a["rows"], b["rows"], strict=True):  # exactly equal, NaN == NaN
        assert ra.keys() == rb.keys()
        for key, va in ra.items():
            vb = rb[key]
            assert va == vb or (isinstance(va, float) and math.isnan(va) and math.isnan(vb)), key
    for row in a["rows"]:
        assert row["true_cue"] == pytest.approx(0.1 / row["period_s"])
        assert 0.1 / 0.3 - 1e-6 <= row["delivered_cue"] <= 0.1 / 0.05 + 1e-6  # clipped
        assert row["prnn_rel_error"] == pytest.approx(
            (row["delivered_period_s"] - row["period_s"]) / row["period_s"]
        )
    assert a["activity"]["rates"].shape == (3, 500, 12)
    assert a["figure"]["output"].shape[0] == 1


def test_delivered_cues_lookup(tmp_path) -> None:
    path = tmp_path / "trials.csv"
    write_csv(path, [{"period_s": 0.25, "delivered_cue": 0.41}], ["period_s", "delivered_cue"])
    assert delivered_cues(str(path), (0.25,)) == {0.25: 0.41}
    with pytest.raises(ValueError, match="flow_periods_s"):
        delivered_cues(str(path), (0.5,))


def test_params_reject_a_test_without_room_for_continuation() -> None:
    params = load_params(ROOT / "params.yaml")
    bad = copy.deepcopy(params)
    bad["rhythm"]["izrnn_eval"]["duration_s"] = 8.0
    with pytest.raises(ParamsError, match=r"rhythm.izrnn_eval.duration_s = 8.0 must be >="):
        validate_params(bad)
    bad = copy.deepcopy(params)
    bad["rhythm"]["izrnn_eval"]["flow_periods_s"] = [0.4]
    with pytest.raises(ParamsError, match="flow_periods_s"):
        validate_params(bad)
    bad = copy.deepcopy(params)
    bad["rhythm"]["izrnn"]["wiring"]["clip_to"] = "both"
    with pytest.raises(ParamsError, match="rhythm.izrnn.wiring.clip_to"):
        validate_params(bad)
