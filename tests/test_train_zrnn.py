"""ZRNN training: it learns, it is reproducible, it resumes exactly, checkpoints are safe."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

import rnnlab.train.zrnn as zrnn_train
from rnnlab.io import load_checkpoint, read_json
from rnnlab.tasks.rhythm import RhythmTaskConfig, fixed_set
from rnnlab.train.zrnn import load_trained_zrnn, train_zrnn

TASK = RhythmTaskConfig(periods_s=(0.1, 0.15), duration_s=0.4, sync_window_s=0.2)
MODEL = dict(
    n_hidden=24,
    tau_s=0.01,
    e_fraction=0.8,
    sigma_rec=0.01,
    sigma_in=0.01,
    rec_init_gain=0.1,
    frozen_zero_init=True,
)
TRAIN = dict(
    seed=3,
    batch_size=8,
    lr=0.01,
    max_steps=30,
    grad_clip_norm=1.0,
    val_every=10,
    target_val_mse=0.0,
    target_val_mare=1.0,
    select_by="val_mse",
    val_drive_s=0.6,
    val_discard_s=0.1,
    val_noise_seed=5,
    device="cpu",
)


def _run(tmp_path, name: str, **overrides):
    out = tmp_path / name
    metrics = train_zrnn(
        TASK,
        MODEL,
        {**TRAIN, **overrides},
        fixed_set(TASK, 2, seed=1),
        checkpoint_path=out / "model.pt",
        curve_path=out / "curve.csv",
        metrics_path=out / "metrics.json",
        resume_path=out / "resume.pt",
        threads=1,
    )
    return out, metrics


def test_training_reduces_validation_loss_and_writes_outputs(tmp_path) -> None:
    out, metrics = _run(tmp_path, "a")
    curve = pd.read_csv(out / "curve.csv")
    assert list(curve.columns) == ["step", "train_mse", "val_mse", "val_mare", "seconds"]
    assert curve["val_mare"].between(0, 1).all()
    assert list(curve["step"]) == [10, 20, 30]
    assert curve["val_mse"].iloc[-1] < 0.85 * curve["val_mse"].iloc[0]
    saved = read_json(out / "metrics.json")
    assert saved["train"]["steps"] == metrics["train"]["steps"] == 30
    assert saved["train"]["best_val_mse"] == pytest.approx(curve["val_mse"].min())
    assert saved["train"]["best_step"] == int(curve["step"][curve["val_mse"].idxmin()])
    assert not (out / "resume.pt").exists()  # removed once the run has finished
    model, task, info = load_trained_zrnn(out / "model.pt")
    assert task == TASK and info["best_step"] == saved["train"]["best_step"]
    assert model.config.n_hidden == 24 and model.config.dale == "reparam"


def test_same_seed_same_numbers(tmp_path) -> None:
    a, _ = _run(tmp_path, "a")
    b, _ = _run(tmp_path, "b")
    pd.testing.assert_frame_equal(
        pd.read_csv(a / "curve.csv").drop(columns="seconds"),
        pd.read_csv(b / "curve.csv").drop(columns="seconds"),
    )
    sa, sb = load_checkpoint(a / "model.pt"), load_checkpoint(b / "model.pt")
    for key in sa["state_dict"]:
        assert torch.equal(sa["state_dict"][key], sb["state_dict"][key])
    c, _ = _run(tmp_path, "c", seed=4)
    assert not np.allclose(
        pd.read_csv(a / "curve.csv")["val_mse"], pd.read_csv(c / "curve.csv")["val_mse"]
    )


def test_interrupted_run_resumes_to_identical_result(tmp_path, monkeypatch) -> None:
    reference, _ = _run(tmp_path, "ref")
    real = zrnn_train.validation_mse
    calls = {"n": 0}

    def crash_on_second_validation(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("simulated preemption")
        return real(*args, **kwargs)

    monkeypatch.setattr(zrnn_train, "validation_mse", crash_on_second_validation)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path, "resumed")
    assert (tmp_path / "resumed" / "resume.pt").exists()
    assert not (tmp_path / "resumed" / "model.pt").exists()
    monkeypatch.setattr(zrnn_train, "validation_mse", real)
    resumed, _ = _run(tmp_path, "resumed")
    pd.testing.assert_frame_equal(
        pd.read_csv(reference / "curve.csv").drop(columns="seconds"),
        pd.read_csv(resumed / "curve.csv").drop(columns="seconds"),
    )
    ra, rb = load_checkpoint(reference / "model.pt"), load_checkpoint(resumed / "model.pt")
    for key in ra["state_dict"]:
        assert torch.equal(ra["state_dict"][key], rb["state_dict"][key])


def test_resume_file_of_other_params_is_ignored(tmp_path, monkeypatch) -> None:
    out = tmp_path / "x"
    out.mkdir()
    # a stale resume file from a different configuration must not be used
    torch.save({"fingerprint": "someone-else", "step": 10**6}, out / "resume.pt")
    _, metrics = _run(tmp_path, "x")
    assert metrics["train"]["steps"] == 30


def test_early_stop_on_validation_target(tmp_path) -> None:
    _, metrics = _run(tmp_path, "e", target_val_mse=10.0)
    assert metrics["train"]["steps"] == 10 and metrics["train"]["reached_target"]


def test_early_stop_needs_both_targets(tmp_path) -> None:
    _, metrics = _run(tmp_path, "b", target_val_mse=10.0, target_val_mare=0.0)
    assert metrics["train"]["steps"] == 30 and not metrics["train"]["stopped_early"]


@pytest.mark.parametrize("select_by", ["val_mare", "val_mse"])
def test_best_checkpoint_follows_selection_rule(tmp_path, select_by) -> None:
    out, metrics = _run(tmp_path, select_by, select_by=select_by, max_steps=40)
    curve = pd.read_csv(out / "curve.csv")
    other = "val_mse" if select_by == "val_mare" else "val_mare"
    best_row = curve.sort_values([select_by, other], kind="stable").iloc[0]
    assert metrics["train"]["best_step"] == int(best_row["step"])
    # the saved weights are those of that step: re-validating them gives the logged numbers
    model, task, _ = load_trained_zrnn(out / "model.pt")
    val = fixed_set(TASK, 2, seed=1)
    mse = zrnn_train.validation_mse(
        model,
        torch.as_tensor(val["inputs"]),
        torch.as_tensor(val["target"]),
        TRAIN["val_noise_seed"],
    )
    assert mse == pytest.approx(best_row["val_mse"], rel=1e-5)
