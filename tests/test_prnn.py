"""PRNN: data (masks, disjoint splits, seeds), packing, training, evaluation metrics, figures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import rnnlab.plots.prnn as prnn_plots
from rnnlab.analysis.prnn_eval import (
    PRNNEvalSettings,
    drift_slopes,
    eval_prnn_stage,
    score_test_set,
)
from rnnlab.io import load_checkpoint, read_json
from rnnlab.models.prnn import PRNN, PRNNConfig, masked_mse
from rnnlab.tasks.prnn import (
    PeriodSplit,
    PRNNTaskConfig,
    build_prnn_trials,
    check_disjoint,
    fixed_test_set,
    load_prnn_set,
    period_sets,
    sample_batch,
)
from rnnlab.tasks.rhythm import RhythmTaskConfig, build_trials
from rnnlab.train.prnn import (
    build_prnn,
    load_trained_prnn,
    train_prnn_stage,
    validation_scores,
    write_prnn_sets,
)

torch.set_num_threads(1)

TASK = {
    "dt_s": 0.01,
    "pulse_width_s": 0.02,
    "pulse_amplitude": 1.0,
    "onset_min_s": 0.0,
    "onset_max_s": 0.1,
    "min_duration_s": 0.8,
    "max_duration_s": 1.6,
    "sync_fraction": 0.5,
    "periods": {
        "min_s": 0.05,
        "max_s": 0.3,
        "grid_s": 0.01,
        "n_train": 6,
        "n_val": 3,
        "n_test": 4,
        "min_gap_s": 0.02,
        "seed": 3,
    },
}
DATA = {
    "val_trials_per_period": 2,
    "val_seed": 11,
    "test_trials_per_period": 1,
    "test_duration_s": 3.0,
    "test_sync_s": 1.5,
    "test_seed": 12,
}
PRNN_PARAMS = {
    "model": {"n_hidden": 32, "bias_at_prior_mean": True, "chrono_t_max": 30.0,
              "input_init_scale": 10.0},
    "train": {
        "seed": 5,
        "batch_size": 8,
        "lr": 0.01,
        "lr_decay": 1.0,
        "batches_per_epoch": 20,
        "max_epochs": 4,
        "grad_clip_norm": 1.0,
        "target_val_mse": 0.0,
        "val_batch_size": 8,
        "pack_sequences": False,
        "device": "cpu",
    },
}  # fmt: skip
EVAL = {
    "device": "cpu",
    "batch_size": 4,
    "drift_skip_s": 0.2,
    "onset_s": 0.05,
    "trace_periods_s": [0.06, 0.1, 0.15, 0.2, 0.25, 0.3],
    "trace_points": 100,
    "raster_periods_s": [0.1, 0.2, 0.3],
    "raster_window_s": 1.0,
    "raster_threshold": 0.5,
    "pca_periods_s": [0.08, 0.15, 0.25],
    "pca_components": 3,
    "pca_points": 80,
}


def _task(**over) -> PRNNTaskConfig:
    return PRNNTaskConfig.from_params({**TASK, **over})


# ---------------------------------------------------------------------------------------------
# data


@pytest.mark.parametrize("dt", [0.001, 0.005, 0.003])
def test_pulses_equal_the_rhythm_task_stimulus(dt) -> None:
    gen = torch.Generator().manual_seed(0)
    periods = 0.03 + 0.9 * torch.rand(12, generator=gen, dtype=torch.float64)
    onsets = 0.1 * torch.rand(12, generator=gen, dtype=torch.float64)
    n, window = int(round(2.5 / dt)), 1.2
    rhythm = RhythmTaskConfig(dt_s=dt, duration_s=2.5, sync_window_s=window, pulse_width_s=0.01)
    ref = build_trials(rhythm, periods, onsets, n_steps=n)[0][..., 0]
    task = _task(dt_s=dt, pulse_width_s=0.01, periods={**TASK["periods"], "min_s": 0.03})
    got = build_prnn_trials(
        task, periods, onsets, torch.full((12,), n), torch.full((12,), window, dtype=torch.float64)
    )
    assert torch.equal(got["pulses"], ref.to(torch.float32))


def test_mask_covers_steps_from_the_second_pulse_to_the_end() -> None:
    task = _task()
    periods = torch.tensor([0.1, 0.25, 0.3, 0.05], dtype=torch.float64)
    onsets = torch.tensor([0.0, 0.03, 0.05, 0.1], dtype=torch.float64)
    lengths = torch.tensor([100, 80, 60, 30])
    windows = torch.tensor([0.5, 0.4, 0.25, 0.15], dtype=torch.float64)  # trial 2: one pulse
    trials = build_prnn_trials(task, periods, onsets, lengths, windows)
    width = 2
    for i in range(4):
        pulses = trials["pulses"][i].numpy()
        starts = np.flatnonzero((pulses > 0) & ~np.r_[False, pulses[:-1] > 0])
        expected_starts = np.ceil(
            (onsets[i].item() + periods[i].item() * np.arange(20)) / task.dt_s - 1e-6
        ).astype(int)
        n_pulses = int((periods[i].item() * np.arange(20) < windows[i].item() - 1e-9).sum())
        np.testing.assert_array_equal(starts, expected_starts[:n_pulses])
        assert (pulses > 0).sum() == width * n_pulses
        assert not pulses[int(lengths[i]) :].any()
        mask = trials["mask"][i].numpy()
        if n_pulses >= 2:
            first = expected_starts[1]
            assert trials["first_valid"][i] == first
            assert not mask[:first].any() and mask[first : int(lengths[i])].all()
        else:
            assert not mask.any() and trials["first_valid"][i] == lengths[i]
        assert not mask[int(lengths[i]) :].any()
        assert trials["sync_end"][i] == min(
            int(np.ceil((onsets[i].item() + windows[i].item()) / task.dt_s - 1e-6)),
            int(lengths[i]),
        )
        assert torch.all(trials["target"][i, : int(lengths[i])] == periods[i].float())
    assert n_pulses == 3  # the last trial: pulses at 0, P, 2P < 0.15 s


def test_masked_loss_ignores_invalid_steps() -> None:
    est = torch.tensor([[9.0, 1.0, 2.0], [9.0, 9.0, 3.0]])
    target = torch.tensor([[0.0, 1.0, 1.0], [0.0, 0.0, 1.0]])
    mask = torch.tensor([[False, True, True], [False, False, True]])
    assert masked_mse(est, target, mask).item() == pytest.approx((0 + 1 + 4) / 3)


def test_period_sets_are_disjoint_spaced_and_seeded() -> None:
    split = PeriodSplit(**TASK["periods"])
    sets = period_sets(split)
    assert [len(sets[k]) for k in ("train", "val", "test")] == [6, 3, 4]
    np.testing.assert_allclose(sets["train"], [0.05, 0.1, 0.15, 0.2, 0.25, 0.3])
    for name in ("val", "test"):
        gaps = np.abs(sets[name][:, None] - sets["train"][None, :]).min(axis=1)
        assert (gaps >= split.min_gap_s - 1e-9).all()
    assert not set(np.round(sets["val"], 6)) & set(np.round(sets["test"], 6))
    again = period_sets(split)
    for k in sets:
        np.testing.assert_array_equal(sets[k], again[k])
    other = period_sets(PeriodSplit(**{**TASK["periods"], "seed": 4}))
    assert not np.array_equal(np.r_[sets["val"], sets["test"]], np.r_[other["val"], other["test"]])
    with pytest.raises(ValueError, match="overlap"):
        check_disjoint({"train": np.array([0.2, 0.55]), "val": np.array([0.55])})
    with pytest.raises(ValueError, match="n_val"):
        period_sets(PeriodSplit(**{**TASK["periods"], "n_val": 30}))


def test_batches_and_sets_are_seeded(tmp_path) -> None:
    task = _task()
    train = period_sets(task.periods)["train"]
    a = sample_batch(task, train, 6, torch.Generator().manual_seed(1))
    b = sample_batch(task, train, 6, torch.Generator().manual_seed(1))
    c = sample_batch(task, train, 6, torch.Generator().manual_seed(2))
    for key in a:
        assert torch.equal(a[key], b[key])
    assert not torch.equal(a["lengths"], c["lengths"])
    assert a["lengths"].min() >= task.min_steps and a["lengths"].max() <= task.max_steps
    write_prnn_sets(TASK, DATA, str(tmp_path / "v1.npz"), str(tmp_path / "t1.npz"))
    write_prnn_sets(TASK, DATA, str(tmp_path / "v2.npz"), str(tmp_path / "t2.npz"))
    for name in ("v", "t"):
        one, two = (
            load_prnn_set(str(tmp_path / f"{name}1.npz")),
            load_prnn_set(str(tmp_path / f"{name}2.npz")),
        )
        for key in one:
            np.testing.assert_array_equal(one[key], two[key])
    test = load_prnn_set(str(tmp_path / "t1.npz"))
    assert (test["lengths"] == 300).all() and float(test["sync_s"]) == 1.5
    assert test["lengths"].max() > task.max_steps  # longer than any training trial
    sets = period_sets(task.periods)
    np.testing.assert_array_equal(np.unique(test["periods_s"]), sets["test"])
    val = load_prnn_set(str(tmp_path / "v1.npz"))
    np.testing.assert_array_equal(np.unique(val["periods_s"]), sets["val"])
    assert len(np.unique(val["lengths"])) > 1


# ---------------------------------------------------------------------------------------------
# model


def test_packed_and_padded_equal_each_sequence_alone() -> None:
    model = PRNN(PRNNConfig(n_hidden=12, input_init_scale=3.0), torch.Generator().manual_seed(0))
    gen = torch.Generator().manual_seed(1)
    lengths = torch.tensor([40, 17, 33, 5])
    pulses = (torch.rand(4, 40, generator=gen) < 0.2).float()
    for i, n in enumerate(lengths):
        pulses[i, n:] = 0.0
    with torch.no_grad():
        packed, h_packed = model(pulses, lengths, pack=True, return_hidden=True)
        padded, h_padded = model(pulses, lengths, pack=False, return_hidden=True)
        for i, n in enumerate(lengths.tolist()):
            alone, h_alone = model(pulses[i : i + 1, :n], return_hidden=True)
            torch.testing.assert_close(packed[i, :n], alone[0], atol=1e-6, rtol=0)
            torch.testing.assert_close(padded[i, :n], alone[0], atol=1e-6, rtol=0)
            torch.testing.assert_close(h_packed[i, :n], h_alone[0], atol=1e-6, rtol=0)
            torch.testing.assert_close(h_padded[i, :n], h_alone[0], atol=1e-6, rtol=0)
            assert not packed[i, n:].any() and not padded[i, n:].any()


def test_init_is_seeded_and_checkpoint_round_trips(tmp_path) -> None:
    config = PRNNConfig(n_hidden=8, output_bias_s=0.4, chrono_t_max=50.0)
    a = PRNN(config, torch.Generator().manual_seed(3))
    b = PRNN(config, torch.Generator().manual_seed(3))
    for (_, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        assert torch.equal(pa, pb)
    assert a.readout.bias.item() == pytest.approx(0.4)
    b_f = a.lstm.bias_ih_l0[8:16]
    assert (b_f >= 0).all() and (b_f <= np.log(49.0)).all()
    torch.save(a.to_checkpoint(), tmp_path / "m.pt")
    back = PRNN.from_checkpoint(load_checkpoint(tmp_path / "m.pt"))
    assert back.config == config
    x = torch.zeros(1, 10)
    assert torch.equal(a(x)[0], back(x)[0])


# ---------------------------------------------------------------------------------------------
# training (tiny config, shared by the eval and figure tests)


def _train(tmp: Path, **train_over) -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    if not (tmp / "val.npz").exists():
        write_prnn_sets(TASK, DATA, str(tmp / "val.npz"), str(tmp / "test.npz"))
    params = {"model": PRNN_PARAMS["model"], "train": {**PRNN_PARAMS["train"], **train_over}}
    train_prnn_stage(
        TASK,
        params,
        str(tmp / "val.npz"),
        str(tmp / "model.pt"),
        str(tmp / "curve.csv"),
        str(tmp / "train.json"),
        str(tmp / "resume.pt"),
        threads=1,
    )
    return tmp


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    return _train(tmp_path_factory.mktemp("prnn"))


def test_training_reduces_validation_loss(trained) -> None:
    curve = pd.read_csv(trained / "curve.csv")
    assert list(curve["epoch"]) == [1, 2, 3, 4]
    val = load_prnn_set(str(trained / "val.npz"))
    train_periods = period_sets(_task().periods)["train"]
    untrained = build_prnn(PRNN_PARAMS["model"], train_periods, PRNN_PARAMS["train"]["seed"])
    before = validation_scores(untrained, val, 8)["val_mse"]
    assert curve["val_mse"].iloc[-1] < 0.5 * before
    assert curve["val_mse"].iloc[-1] < 0.7 * curve["val_mse"].iloc[0]
    metrics = read_json(trained / "train.json")["train"]
    assert metrics["best_val_mse"] == pytest.approx(curve["val_mse"].min())
    assert metrics["best_epoch"] == int(curve["epoch"][curve["val_mse"].idxmin()])
    assert curve["best"].iloc[0] == 1 and curve["best"].sum() >= 2
    assert not (trained / "resume.pt").exists()
    model, task, info = load_trained_prnn(trained / "model.pt")
    assert task == _task() and model.config.n_hidden == 32
    check_disjoint({k: np.array(v) for k, v in info["periods"].items()})


def test_training_is_reproducible_and_resumes_identically(trained, tmp_path, monkeypatch) -> None:
    import rnnlab.train.prnn as prnn_train

    real = prnn_train.validation_scores
    calls = {"n": 0}

    def crash_on_third_validation(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("simulated preemption")
        return real(*args, **kwargs)

    monkeypatch.setattr(prnn_train, "validation_scores", crash_on_third_validation)
    with pytest.raises(KeyboardInterrupt):
        _train(tmp_path / "r")
    assert (tmp_path / "r" / "resume.pt").exists()
    monkeypatch.setattr(prnn_train, "validation_scores", real)
    resumed = _train(tmp_path / "r")
    pd.testing.assert_frame_equal(
        pd.read_csv(trained / "curve.csv").drop(columns="seconds"),
        pd.read_csv(resumed / "curve.csv").drop(columns="seconds"),
    )
    sa, sb = load_checkpoint(trained / "model.pt"), load_checkpoint(resumed / "model.pt")
    for key in sa["state_dict"]:
        assert torch.equal(sa["state_dict"][key], sb["state_dict"][key])


# ---------------------------------------------------------------------------------------------
# evaluation metrics


def _synthetic_test_set(dt: float = 0.01) -> dict[str, np.ndarray]:
    task = _task(dt_s=dt, onset_max_s=0.0)
    periods = np.array([0.06, 0.11, 0.17, 0.23, 0.29])
    return fixed_test_set(task, periods, 1, duration_s=3.0, sync_s=1.0, seed=0)


def test_perfect_predictor_scores_perfectly() -> None:
    test = _synthetic_test_set()
    est = np.repeat(test["periods_s"][:, None], test["pulses"].shape[1], axis=1)
    metrics, rows = score_test_set(est, test, 0.01, drift_skip_s=0.3)
    for key in ("end_of_sync", "end_of_trial"):
        assert metrics[key]["mae"] == pytest.approx(0.0, abs=1e-12)
        assert metrics[key]["r2"] == pytest.approx(1.0)
        assert metrics[key]["slope"] == pytest.approx(1.0)
        assert metrics[key]["intercept"] == pytest.approx(0.0, abs=1e-12)
    assert metrics["drift"]["slope_per_s"] == pytest.approx(0.0, abs=1e-12)
    assert metrics["drift"]["change_s"] == pytest.approx(0.0, abs=1e-12)
    assert len(rows) == 5 and all(r["end_of_trial_error_s"] == 0 for r in rows)


def test_biased_drifting_predictor_gives_the_known_numbers() -> None:
    dt, a, b, c = 0.01, 1.1, -0.02, 0.004  # P̂ = a P + b, then + c (t - t_sync) in continuation
    test = _synthetic_test_set(dt)
    periods, n_steps = test["periods_s"], test["pulses"].shape[1]
    sync_end = test["sync_end"]
    assert (sync_end == 100).all()  # onset 0, 1-s window: continuation from step 100
    t = np.arange(n_steps) * dt
    est = a * periods[:, None] + b + c * np.clip(t[None, :] - (sync_end[:, None] - 1) * dt, 0, None)
    metrics, _ = score_test_set(est, test, dt, drift_skip_s=0.5)
    sync_err = (a - 1) * periods + b
    assert metrics["end_of_sync"]["slope"] == pytest.approx(a)
    assert metrics["end_of_sync"]["intercept"] == pytest.approx(b)
    assert metrics["end_of_sync"]["mae"] == pytest.approx(np.abs(sync_err).mean())
    cont = (n_steps - 1 - (sync_end[0] - 1)) * dt  # 2.0 s of continuation
    assert metrics["end_of_trial"]["slope"] == pytest.approx(a)
    assert metrics["end_of_trial"]["intercept"] == pytest.approx(b + c * cont)
    assert metrics["end_of_trial"]["mae"] == pytest.approx(np.abs(sync_err + c * cont).mean())
    ss_res = ((sync_err + c * cont) ** 2).sum()
    ss_tot = ((periods - periods.mean()) ** 2).sum()
    assert metrics["end_of_trial"]["r2"] == pytest.approx(1 - ss_res / ss_tot)
    assert metrics["drift"]["slope_per_s"] == pytest.approx(c)
    assert metrics["drift"]["change_s"] == pytest.approx(c * cont)
    slopes, _ = drift_slopes(est, sync_end, test["lengths"], dt, skip_steps=10**6)
    assert np.isnan(slopes).all()  # nothing left to fit


def test_eval_stage_writes_contract_and_bounded_figure_data(trained) -> None:
    out = trained
    metrics = eval_prnn_stage(
        EVAL,
        str(out / "model.pt"),
        str(out / "test.npz"),
        str(out / "metrics.json"),
        str(out / "trials.csv"),
        str(out / "figure_data.npz"),
        threads=1,
    )
    saved = read_json(out / "metrics.json")
    for block, key in [
        ("end_of_trial", "mae"),
        ("end_of_trial", "r2"),
        ("end_of_trial", "slope"),
        ("end_of_trial", "intercept"),
        ("end_of_sync", "mae"),
        ("drift", "slope_per_s"),
    ]:
        assert isinstance(saved[block][key], float)
        assert saved[block][key] == pytest.approx(metrics[block][key])
    trials = pd.read_csv(out / "trials.csv")
    test = load_prnn_set(str(out / "test.npz"))
    assert len(trials) == len(test["periods_s"])
    assert np.abs(trials["end_of_trial_error_s"]).mean() == pytest.approx(
        saved["end_of_trial"]["mae"]
    )
    with np.load(out / "figure_data.npz", allow_pickle=False) as z:
        assert z["raster_window"].dtype == np.float16
        assert z["raster_window"].shape[0] == 3 and z["trace_estimate"].shape[0] >= 6
        assert z["trace_estimate"].shape[1] <= EVAL["trace_points"] + 1
        assert z["pca_proj"].shape[:2][1] <= EVAL["pca_points"] + 1
        assert z["traj_mean"].shape == (3, 3) and np.isfinite(z["traj_mean"]).all()
    settings = PRNNEvalSettings.from_params(EVAL)
    assert settings.trace_periods_s[0] == 0.06


# ---------------------------------------------------------------------------------------------
# figures


def test_figures_draw_exactly_the_saved_numbers(trained, tmp_path, monkeypatch) -> None:
    out = trained
    if not (out / "figure_data.npz").exists():
        test_eval_stage_writes_contract_and_bounded_figure_data(out)
    captured: dict[str, object] = {}
    real_save = prnn_plots.save

    def keep(fig, path):
        captured[Path(path).stem] = fig
        fig.canvas.draw()
        real_save(fig, path)

    monkeypatch.setattr(prnn_plots, "save", keep)
    names = ["loss", "scatter", "traces", "raster", "pca3d", "pca2d", "trajectory"]
    prnn_plots.fig_prnn_stage(
        {"dpi": 40},
        str(out / "curve.csv"),
        str(out / "metrics.json"),
        str(out / "trials.csv"),
        str(out / "figure_data.npz"),
        *[str(tmp_path / f"{n}.png") for n in names],
    )
    for n in names:
        assert (tmp_path / f"{n}.png").stat().st_size > 0
    curve = pd.read_csv(out / "curve.csv")
    metrics = read_json(out / "metrics.json")
    trials = pd.read_csv(out / "trials.csv")
    data = prnn_plots.load_figure_data(str(out / "figure_data.npz"))

    loss_ax = captured["loss"].axes[0]
    np.testing.assert_allclose(loss_ax.lines[1].get_ydata(), curve["val_mse"])
    np.testing.assert_allclose(loss_ax.lines[0].get_ydata(), curve["train_mse"])
    best = loss_ax.collections[0].get_offsets()
    np.testing.assert_allclose(best[:, 0], curve["epoch"][curve["best"] == 1])

    end_ax = captured["scatter"].axes[1]
    pts = end_ax.collections[0].get_offsets()
    np.testing.assert_allclose(pts[:, 0], trials["period_s"])
    np.testing.assert_allclose(pts[:, 1], trials["end_of_trial_s"])
    fit = end_ax.lines[1]
    m = metrics["end_of_trial"]
    np.testing.assert_allclose(
        fit.get_ydata(), m["slope"] * np.asarray(fit.get_xdata()) + m["intercept"]
    )
    np.testing.assert_allclose(end_ax.lines[0].get_ydata(), end_ax.lines[0].get_xdata())

    trace_axes = [ax for ax in captured["traces"].axes if ax.get_visible()]
    for k, ax in enumerate(trace_axes):
        np.testing.assert_allclose(ax.lines[0].get_ydata(), data["trace_estimate"][k])
        assert ax.lines[1].get_ydata()[0] == pytest.approx(data["trace_periods_s"][k])

    dt = float(data["dt_s"])
    for k, ax in enumerate(captured["raster"].axes):
        drawn = np.concatenate([c.get_offsets() for c in ax.collections])
        sel = data["raster_peak_period"] == k
        expected = np.c_[
            data["raster_t0_s"][k] + data["raster_peak_step"][sel] * dt,
            data["raster_peak_rank"][sel],
        ]
        assert sorted(map(tuple, np.round(drawn, 9))) == sorted(map(tuple, np.round(expected, 9)))

    ax2 = captured["pca2d"].axes[0]
    cont = [ln for ln in ax2.lines if ln.get_linestyle() == "-"]
    for k, line in enumerate(cont):
        cut = int(data["pca_sync_index"][k])
        np.testing.assert_allclose(line.get_xdata(), data["pca_proj"][k, cut:, 0])
        np.testing.assert_allclose(line.get_ydata(), data["pca_proj"][k, cut:, 1])

    traj_ax = captured["trajectory"].axes[0]
    whole = np.concatenate([traj_ax.collections[3 * k].get_offsets() for k in range(3)])
    np.testing.assert_allclose(whole, np.c_[data["traj_mean"][:, 0], data["traj_sd"][:, 0]])
