"""ZRNN training: it learns, it is reproducible, it resumes exactly, checkpoints are safe."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import rnnlab.train.zrnn as zrnn_train
from rnnlab.io import load_checkpoint, read_json
from rnnlab.tasks.rhythm import RhythmTaskConfig, fixed_set
from rnnlab.train.common import TrainingDiverged, TrainingInterrupted
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


def _assert_same_run(a: Path, b: Path) -> None:
    """Same loss curve (timings aside) and bit-identical best weights."""
    pd.testing.assert_frame_equal(
        pd.read_csv(a / "curve.csv").drop(columns="seconds"),
        pd.read_csv(b / "curve.csv").drop(columns="seconds"),
    )
    sa, sb = load_checkpoint(a / "model.pt"), load_checkpoint(b / "model.pt")
    for key in sa["state_dict"]:
        assert torch.equal(sa["state_dict"][key], sb["state_dict"][key])


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
    _assert_same_run(a, b)
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
    _assert_same_run(reference, resumed)


def test_resume_file_of_other_params_is_ignored(tmp_path, monkeypatch) -> None:
    out = tmp_path / "x"
    out.mkdir()
    # a stale resume file from a different configuration must not be used
    torch.save({"fingerprint": "someone-else", "step": 10**6}, out / "resume.pt")
    _, metrics = _run(tmp_path, "x")
    assert metrics["train"]["steps"] == 30
    moved = list(out.glob("resume.pt.other-params-*"))
    assert len(moved) == 1  # never overwritten silently: kept aside under a telling name


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


def test_sigterm_saves_state_and_rerun_resumes_identically(tmp_path, monkeypatch) -> None:
    import os
    import signal

    reference, _ = _run(tmp_path, "ref")
    real = zrnn_train.validation_mse
    calls = {"n": 0}

    def sigterm_during_second_validation(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            os.kill(os.getpid(), signal.SIGTERM)  # what SLURM sends before killing a job
        return real(*args, **kwargs)

    monkeypatch.setattr(zrnn_train, "validation_mse", sigterm_during_second_validation)
    with pytest.raises(TrainingInterrupted, match="signal 15 at step 20"):
        _run(tmp_path, "term")
    monkeypatch.setattr(zrnn_train, "validation_mse", real)
    resumed, _ = _run(tmp_path, "term")
    _assert_same_run(reference, resumed)


def test_sigkill_at_a_random_point_then_rerun_is_identical(tmp_path) -> None:
    """A real process killed with SIGKILL mid-training; the rerun matches an uninterrupted run."""
    import signal
    import subprocess
    import sys
    import time

    reference, _ = _run(tmp_path, "ref", max_steps=60)
    script = f"""
import sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
from test_train_zrnn import _run
from pathlib import Path
_run(Path({str(tmp_path)!r}), "killed", max_steps=60)
"""
    proc = subprocess.Popen([sys.executable, "-c", script])
    resume = tmp_path / "killed" / "resume.pt"
    deadline = time.time() + 120
    while not resume.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(float(np.random.default_rng().uniform(0.0, 0.5)))  # a random later point
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "killed" / "model.pt").exists() or proc.returncode == 0
    resumed, _ = _run(tmp_path, "killed", max_steps=60)
    _assert_same_run(reference, resumed)


def test_divergence_stops_with_the_step_and_keeps_last_good_state(tmp_path, monkeypatch) -> None:
    real_batch = zrnn_train.sample_batch
    calls = {"n": 0}

    def poisoned_batch(*args, **kwargs):
        calls["n"] += 1
        inputs, target = real_batch(*args, **kwargs)
        if calls["n"] == 14:
            target = target * float("nan")
        return inputs, target

    monkeypatch.setattr(zrnn_train, "sample_batch", poisoned_batch)
    with pytest.raises(TrainingDiverged, match="step 14: training loss is nan"):
        _run(tmp_path, "nan")
    state = load_checkpoint(tmp_path / "nan" / "resume.pt")
    assert state["step"] == 10  # the last validation point before the divergence
    assert all(torch.isfinite(v).all() for v in state["model"].values())


def test_validation_mare_counts_every_noise_draw(monkeypatch) -> None:
    """A tempo that keeps time under two noise draws and dies under the third: 1 of 6 fail."""
    seen: list[np.ndarray] = []

    def fake_drive(model, task, periods, *, drive_s, onset_s, noise_seed):
        seen.append(np.asarray(periods))
        t = np.arange(int(round(drive_s / task.dt_s))) * task.dt_s
        rows = [np.exp(4 * (np.cos(2 * np.pi * t / p) - 1)) for p in periods]
        if len(periods) > len(task.periods_s):  # draws 0, 1 keep time; draw 2 of cue 0 dies
            rows[2] = np.zeros_like(t)
        return np.stack(rows)

    monkeypatch.setattr(zrnn_train, "drive_pulse_free", fake_drive)
    task = RhythmTaskConfig(periods_s=(0.1, 0.15), duration_s=0.4, sync_window_s=0.2)
    settings = {**TRAIN, "val_drive_s": 3.0, "val_discard_s": 0.5}
    one = zrnn_train.validation_mare(None, task, zrnn_train.TrainSettings(**settings))
    three = zrnn_train.validation_mare(
        None, task, zrnn_train.TrainSettings(**settings, val_noise_draws=3)
    )
    assert np.array_equal(seen[0], [0.1, 0.15])
    assert np.array_equal(seen[1], [0.1, 0.1, 0.1, 0.15, 0.15, 0.15])  # cue by cue
    assert one < 0.01
    assert three == pytest.approx(1.0 / 6.0, abs=0.01)  # one silent drive of six
