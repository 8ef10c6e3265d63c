"""Maturation study: task epochs/masks/targets, model, trainer, and analysis oracles."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch
from conftest import ROOT, smoke_params

from rnnlab.analysis import maturation_decoding as dec
from rnnlab.analysis import maturation_dpca as dp
from rnnlab.analysis import maturation_errors as er
from rnnlab.analysis import maturation_stages as st
from rnnlab.analysis import maturation_units as un
from rnnlab.models.maturation import MaturationNet, MaturationNetConfig, masked_lsq
from rnnlab.tasks import maturation as tk
from rnnlab.train import maturation as tr
from rnnlab.train.common import TrainingInterrupted


def study_params() -> dict:
    import yaml

    from rnnlab.params import deep_merge

    p = smoke_params()
    if "maturation" in p:
        return p["maturation"]
    d = ROOT / "drafts" / "maturation"
    base = yaml.safe_load((d / "params.yaml").read_text())
    return deep_merge(base, yaml.safe_load((d / "smoke.yaml").read_text()) or {})


RNG = np.random.default_rng(0)

# (epochs in steps at dt = 20 ms, total steps, mask pre [a, b), mask post [c, end)) — §3 table
TABLE = {
    "odr": ({"fix1": (0, 50), "stim1": (50, 75), "delay1": (75, 150), "go1": (150, 175)},
            175, (5, 150), 155),
    "odrd": ({"fix1": (0, 50), "stim1": (50, 75), "delay1": (75, 100), "distract1": (100, 125),
              "delay2": (125, 150), "go1": (150, 175)}, 175, (5, 150), 155),
    "overlap": ({"fix1": (0, 50), "stim1": (50, 55), "go1": (55, 80)}, 80, (5, 55), 60),
    "zero_gap": ({"fix1": (0, 50), "stim1": (50, 55), "go1": (50, 80)}, 80, (5, 50), 55),
    "gap": ({"fix1": (0, 50), "delay1": (50, 55), "stim1": (55, 60), "go1": (55, 85)},
            85, (5, 55), 60),
    "gap500": ({"fix1": (0, 50), "delay1": (50, 75), "stim1": (75, 80), "go1": (75, 105)},
               105, (5, 75), 80),
}  # fmt: skip


@pytest.mark.parametrize("task", tk.TASKS)
def test_epochs_masks_targets(task: str) -> None:
    epochs, total, (a, b), c = TABLE[task]
    batch = tk.make_batch(task, RNG, dt_ms=20.0, batch_size=5)
    assert batch.epochs == epochs
    assert batch.inputs.shape == (5, total, 15) and batch.targets.shape == (5, total, 9)
    m = batch.mask
    assert np.all(m[:, :a] == 0) and np.all(m[:, b:c] == 0)
    assert np.all(m[:, a:b, 1:] == 1) and np.all(m[:, a:b, 0] == 2)
    assert np.all(m[:, c:, 1:] == 5) and np.all(m[:, c:, 0] == 10)
    go = batch.go_step
    assert go == b  # the response is due where the pre mask ends
    assert np.all(batch.targets[:, :go, 0] == np.float32(0.8))
    assert np.all(batch.targets[:, go:, 0] == np.float32(0.05))
    assert np.all(batch.targets[:, :go, 1:] == np.float32(0.05))
    # ring target peaks (0.85) at the response location from go on
    ang = tk.popvec_angle(batch.targets[:, -1, 1:] - 0.05)
    assert np.all(tk.angular_error(ang, batch.target_angle) < 0.05)  # popvec bias < 3°
    anti = task in tk.ANTI_TASKS
    expect = np.mod(batch.stim_angle + (np.pi if anti else 0.0), 2 * np.pi)
    assert np.allclose(batch.target_angle, expect)
    # rule one-hot the whole trial, fixation input until fix_off
    assert np.all(batch.inputs[:, :, 9 + tk.TASKS.index(task)] == 1)
    fix_off = {"overlap": 55, "odr": 150, "odrd": 150}.get(task, 50)
    assert np.all(batch.inputs[:, :fix_off, 0] == 1) and np.all(batch.inputs[:, fix_off:, 0] == 0)


def test_stimulus_bump_and_test_mode() -> None:
    b = tk.make_batch("odr", RNG, dt_ms=20.0, mode="test", n_repeats=16)
    assert b.inputs.shape[0] == 128
    assert np.array_equal(b.locations, np.repeat(np.arange(8), 16))
    ring = b.inputs[16 * 3, 60, 1:9]  # location 3 during the cue
    assert ring[3] == pytest.approx(0.8) and ring[2] == pytest.approx(0.108, abs=1e-3)
    assert ring[7] == pytest.approx(0.0, abs=1e-6)
    assert np.all(b.inputs[:, 80, 1:9] == 0)  # nothing on the ring in the delay


def test_odrd_distractor_rules() -> None:
    offsets = []
    for seed in range(40):
        b = tk.make_batch("odrd", np.random.default_rng(seed), dt_ms=20.0, batch_size=16)
        k = np.round(np.mod(b.distract_angle - b.stim_angle, 2 * np.pi) / (np.pi / 4)) % 8
        assert np.unique(k).size == 1  # one offset per batch
        offsets.append(int(k[0]))
    assert 0 not in offsets and set(offsets) <= set(range(1, 8)) and len(set(offsets)) > 3
    t = tk.make_batch("odrd", RNG, dt_ms=20.0, mode="test", n_repeats=2)
    assert np.allclose(tk.angular_error(t.distract_angle, t.stim_angle), np.pi)
    t2 = tk.make_batch("odrd", RNG, dt_ms=20.0, mode="test", n_repeats=1, distractor_locs=2)
    assert np.allclose(t2.inputs[:, 110, 1:9].argmax(1), 2)  # distractor at location 2


def test_seeded_and_bad_inputs() -> None:
    a = tk.make_batch("gap", np.random.default_rng(5), dt_ms=50.0)
    b = tk.make_batch("gap", np.random.default_rng(5), dt_ms=50.0)
    assert np.array_equal(a.inputs, b.inputs)
    with pytest.raises(ValueError, match="unknown maturation task"):
        tk.make_batch("nope", RNG, dt_ms=20.0)
    with pytest.raises(ValueError, match="not a multiple"):
        tk.make_batch("gap", RNG, dt_ms=30.0)
    with pytest.raises(ValueError, match="mode"):
        tk.make_batch("gap", RNG, dt_ms=20.0, mode="other")


def test_perf_criterion() -> None:
    target = np.array([0.0, 0.0, 0.0, np.pi])
    out = np.full((4, 9), 0.05)
    out[:, 0] = [0.1, 0.9, 0.1, 0.1]  # trial 1 still fixating
    out[0, 1] = out[1, 1] = 0.8  # at 0 rad
    out[2, 2] = 0.8  # 45° away: > 36° -> wrong
    out[3, 5] = 0.8  # at π
    assert tk.correct_trials(out, target).tolist() == [True, False, False, True]


def test_model_paper_shapes_and_noise() -> None:
    cfg = MaturationNetConfig(n_hidden=256, dt_ms=20.0)
    net = MaturationNet(cfg, seed=0)
    n_params = sum(p.numel() for p in net.parameters() if p.requires_grad)
    assert n_params == 71_945  # maturation.md §2
    assert cfg.alpha == pytest.approx(0.2) and cfg.input_noise_sd == pytest.approx(0.0316, 1e-3)
    w = net.core.w_rec.detach().double()
    assert torch.allclose(w @ w.T, 0.25 * torch.eye(256, dtype=torch.float64), atol=1e-5)
    x = torch.as_tensor(tk.make_batch("overlap", RNG, dt_ms=20.0, batch_size=3).inputs)
    net.eval()
    y1, r1 = net(x, noise_generator=torch.Generator().manual_seed(1))
    y2, _ = net(x, noise_generator=torch.Generator().manual_seed(1))
    y3, _ = net(x, noise_generator=torch.Generator().manual_seed(2))
    assert torch.equal(y1, y2) and not torch.equal(y1, y3)
    assert y1.min() > 0 and y1.max() < 1 and r1.shape == (3, 80, 256)
    gru = MaturationNet(MaturationNetConfig(rnn_type="gru", n_hidden=8), seed=0)
    assert gru(x)[0].shape == (3, 80, 9)
    with pytest.raises(ValueError, match="rnn_type"):
        MaturationNetConfig(rnn_type="lstm")


def test_masked_lsq_mask_before_square() -> None:
    y = torch.zeros(1, 1, 2)
    t = torch.ones(1, 1, 2)
    m = torch.tensor([[[2.0, 5.0]]])
    assert float(masked_lsq(y, t, m)) == pytest.approx((4 + 25) / 2)


def _tiny(tmp_path, name: str, max_trials: int = 64):
    p = study_params()
    model = dict(p["model"], n_hidden=8, dt_ms=100.0)
    train = dict(
        p["train"], batch_size=16, eval_every_trials=32, eval_trials=16, max_trials=max_trials
    )
    d = tmp_path / name
    kw = dict(
        checkpoints_dir=d / "checkpoints", log_csv_path=d / "log.csv", metrics_path=d / "m.json"
    )
    return p["task"], model, train, kw


def test_trainer_outputs_seeded_and_resumes(tmp_path, monkeypatch) -> None:
    task, model, train, kw = _tiny(tmp_path, "a")
    m = tr.train_maturation(task, model, train, threads=1, **kw)
    assert m["final"]["trials"] == 64 and 0 <= m["final"]["perf_min"] <= 1
    assert m["train"]["seconds"] > 0
    ckpts = tr.list_checkpoints(kw["checkpoints_dir"])
    assert [c.name for c in ckpts] == [tr.checkpoint_name(t) for t in (0, 32, 64)]
    net, payload = tr.load_net(ckpts[-1])
    assert payload["trials"] == 64 and set(payload) == {"net_config", "state_dict", "trials",
                                                        "perf"}  # fmt: skip
    log_a = (kw["log_csv_path"]).read_text()

    _, _, _, kw_b = _tiny(tmp_path, "b")
    tr.train_maturation(task, model, train, threads=1, **kw_b)
    assert (
        kw_b["log_csv_path"].read_text().split("\n")[1].split(",")[2:]
        == log_a.split("\n")[1].split(",")[2:]
    )  # same numbers (times differ)

    # interrupted after one step (SIGTERM flag), then resumed: identical perf columns
    _, _, _, kw_c = _tiny(tmp_path, "c")

    @contextlib.contextmanager
    def fake_stop():
        yield {"signal": 15}

    monkeypatch.setattr(tr, "stop_requests", fake_stop)
    with pytest.raises(TrainingInterrupted):
        tr.train_maturation(task, model, train, threads=1, **kw_c)
    assert (kw_c["checkpoints_dir"].parent / "resume.pt").exists()
    monkeypatch.undo()
    tr.train_maturation(task, model, train, threads=1, **kw_c)

    def perf_cols(text: str) -> list[list[str]]:
        return [r.split(",")[2:] for r in text.strip().split("\n")]

    assert perf_cols(kw_c["log_csv_path"].read_text()) == perf_cols(log_a)
    with pytest.raises(ValueError, match="multiple of"):
        tr.train_maturation(task, model, dict(train, eval_every_trials=20), **kw)


def test_stage_rules() -> None:
    perf = np.array([0.1, 0.2, 0.3, 0.35, 0.36, 0.5, 0.65, 0.66, 0.9, 1.0])
    assert st.list_labels(perf).tolist() == [0, 0, 0, 0, 1, 1, 1, 2, 2, 2]
    sel = st.list_select(perf, max_per_stage=2)
    assert sel == {"early": [2, 3], "mid": [4, 5], "mature": [7, 8]}
    assert st.cap_stage([1, 2, 3, 4, 5], "mid", 3) == [2, 3, 4]
    ramp = np.concatenate([np.full(20, 0.35), np.full(20, 0.65), np.full(20, 0.95)])
    auto = st.auto_select(ramp, max_per_stage=5, window=3)
    assert auto["early"] == [15, 16, 17, 18, 19]  # the last five
    assert auto["mature"] == [40, 41, 42, 43, 44]  # the first five
    assert st.representative(perf, [4, 5, 6], "mid") == 6


def _synthetic_units(reps: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """3 units: 0 tuned to location 2 (exh), 1 flat, 2 suppressed at all but tuned (inh)."""
    rng = np.random.default_rng(0)
    locs = np.repeat(np.arange(8), reps)
    em = np.zeros((locs.size, 4, 3))
    em[:, 0] = 1.0 + 0.01 * rng.standard_normal((locs.size, 3))  # baseline
    tuned = np.exp(-(np.angle(np.exp(1j * (locs - 2) * np.pi / 4)) ** 2) / 0.5)
    for e in (1, 2):
        em[:, e, 0] = 1.2 + 2.0 * tuned + 0.05 * rng.standard_normal(locs.size)
        em[:, e, 1] = 1.0 + 0.05 * rng.standard_normal(locs.size)
        em[:, e, 2] = 0.5 - 0.3 * tuned + 0.02 * rng.standard_normal(locs.size)
    return em, locs


def test_selectivity_oracle() -> None:
    em, locs = _synthetic_units()
    s = un.selectivity(em, locs, epoch=2)
    assert s["selective"].tolist() == [True, False, True]
    assert s["kind"].tolist() == [1, 0, 2]  # exh, none, inh
    assert int(s["pref"][0]) == 2
    assert s["norm_curve"][2, 0] == pytest.approx(2.2, abs=0.05)
    with pytest.raises(ValueError, match="repeats"):
        un.selectivity(em[:-1], locs[:-1], epoch=2)


def test_tuning_fit_recovers_width() -> None:
    x = np.arange(9.0)
    sigma = 1.3
    curve = un.gaussian(x, 5.0, 4.0, sigma) + 0.2
    assert un.fit_width(curve)["width"] == pytest.approx(2 * sigma, rel=0.02)  # fit of curve - min
    curves = np.zeros((8, 2))
    curves[3, 0] = 1.0
    curves[6, 1] = 2.0
    c = un.centred_curves(curves, np.array([3, 6]))
    assert c.shape == (2, 9) and c[0, 4] == 1.0 and c[1, 4] == 2.0 and c[0, 8] == c[0, 0]


def test_decoding_no_leakage() -> None:
    rng = np.random.default_rng(1)
    locs = np.repeat(np.arange(8), 6)
    rates = rng.standard_normal((locs.size, 20, 16)) * 0.1
    rates[:, 10:, :8] += np.eye(8)[locs][:, None, :] * 3  # cue info only from step 10
    win = dec.windows(20, 50.0, 100.0, 50.0)
    assert win[:3].tolist() == [[0, 2], [1, 3], [2, 4]] and win[-1, 1] == 20
    train, test = dec.split_by_location(locs, 2)
    assert test.sum() == 16 and not np.any(train & test)
    acc = dec.cross_temporal_accuracy(rates, locs, win, train, test)
    assert np.all(np.diag(acc)[12:] == 1.0)
    assert np.mean(np.diag(acc)[:8]) < 0.5  # before the cue: near chance (1/8)
    # a window with no information stays near chance off the diagonal too (held-out only)
    assert np.mean(acc[:8, 12:]) < 0.5


def test_dpca_recovers_known_components() -> None:
    rng = np.random.default_rng(2)
    n, s, t = 30, 8, 40
    time_sig = np.sin(np.linspace(0, 3, t))
    stim_sig = np.cos(2 * np.pi * np.arange(s) / s)
    a, b = rng.standard_normal(n), rng.standard_normal(n)
    x = a[:, None, None] * time_sig[None, None, :] + b[:, None, None] * stim_sig[None, :, None]
    x = x + 0.01 * rng.standard_normal((n, s, t))
    fit = dp.dpca_fit(x, n_components=2, regulariser=1e-6)
    z_t = fit["t"]["components"][0]
    z_s = fit["s"]["components"][0]
    assert abs(np.corrcoef(z_t.mean(0), time_sig)[0, 1]) > 0.99
    assert abs(np.corrcoef(z_s.mean(1), stim_sig)[0, 1]) > 0.99
    assert np.ptp(z_t, axis=0).max() < 0.1 * np.ptp(z_t)  # time component ignores stimulus
    assert fit["t"]["explained_variance"][0] + fit["s"]["explained_variance"][0] > 0.95
    with pytest.raises(ValueError, match="units, stimuli, time"):
        dp.dpca_fit(np.zeros((3, 4)))


def test_errors_helpers() -> None:
    frac, edges = er.error_histogram(np.array([1.0, 5.0, 179.0, 200.0]), 30)
    assert frac.sum() == pytest.approx(1.0) and frac[0] == 0.5 and frac[-1] == 0.5
    correct = np.zeros((8, 8))
    for c in range(8):
        correct[c, (c + 4) % 8] = 1.0  # only opposite distractors succeed
    assert er.perf_by_distance(correct).tolist() == [0, 0, 0, 0, 1.0]


def test_variants_as_params(tmp_path) -> None:
    """ODR delay and the GRU are params, not code edits."""
    assert tk.epochs_steps("odr", 50.0, odr_delay_ms=3000.0)["go1"] == (90, 100)
    task, model, train, kw = _tiny(tmp_path, "gru", max_trials=32)
    m = tr.train_maturation(
        dict(task, odr_delay_ms=3000.0), dict(model, rnn_type="gru"), train, threads=1, **kw
    )
    assert m["final"]["trials"] == 32
    net, _ = tr.load_net(tr.list_checkpoints(kw["checkpoints_dir"])[-1])
    assert net.config.rnn_type == "gru"
