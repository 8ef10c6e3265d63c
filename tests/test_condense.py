"""Condense study: CSG task, reduction methods and the "same solution?" battery, each
measure checked on constructed cases with known answers (reference condense.md §1-3)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.optimize import brentq

from rnnlab.analysis import condense_reduce as cr
from rnnlab.analysis.condense_battery import (
    ClassifySettings,
    FixedPointSettings,
    behaviour_metrics,
    classify_solution,
    fixed_points_per_cue,
    linear_cka,
    linear_unit_fraction,
    participation_ratio,
    procrustes_distance,
    scaling_index,
    scaling_indices,
    speed_interval_law,
    time_normalise,
)
from rnnlab.tasks.cue_set_go import (
    CSGTaskConfig,
    build_trials,
    eval_trials,
    produced_intervals_ms,
    sample_batch,
)
from rnnlab.train.csg import CSGModelSettings, build_csg_rnn, ctrnn_like, weights_of

TASK = CSGTaskConfig()


# --- task --------------------------------------------------------------------------------
def test_cue_map_and_extrapolation() -> None:
    assert TASK.cue_for_interval(300.0) == pytest.approx(0.1)
    assert TASK.cue_for_interval(800.0) == pytest.approx(0.6)
    assert TASK.cue_for_interval(1050.0) == pytest.approx(0.85)  # same line beyond the range
    assert TASK.cue_for_interval(200.0) == pytest.approx(0.0)


def test_trial_epochs_and_target() -> None:
    b = build_trials(TASK, [400.0], [150.0])
    onset, s = 50, 50 + 150
    cue, st = b.inputs[0, :, 0].numpy(), b.inputs[0, :, 1].numpy()
    assert np.all(cue[:onset] == 0) and np.allclose(cue[onset:], TASK.cue_for_interval(400.0))
    assert np.all(st[:s] == 0) and np.all(st[s : s + 10] == 1.0) and np.all(st[s + 10 :] == 0)
    y = b.target[0, :, 0].numpy()
    assert np.all(y[: s + 1] == 0)
    assert y[s + 400] == pytest.approx(1.0)  # threshold at Set + T
    end = s + int(np.ceil(400 * 1.2))
    assert b.mask[0, end].item() == 1 and b.mask[0, end + 1 :].sum().item() == 0
    # the target itself crosses threshold exactly at T
    tp = produced_intervals_ms(y[None], b.set_step, 1.0, 1.0)
    assert tp[0] == pytest.approx(400.0, abs=1e-6)


def test_produced_interval_no_cross_and_interpolation() -> None:
    out = np.zeros((2, 100))
    out[1, 10:] = np.linspace(0, 2, 90)  # crosses 1.0 between samples
    tp = produced_intervals_ms(out, np.array([5, 10]), 1.0, 1.0)
    assert np.isnan(tp[0])
    assert tp[1] == pytest.approx(44.5, abs=1e-9)


def test_sample_batch_seeded_and_bad_input() -> None:
    a = sample_batch(TASK, 4, torch.Generator().manual_seed(3))
    b = sample_batch(TASK, 4, torch.Generator().manual_seed(3))
    assert torch.equal(a.inputs, b.inputs) and np.array_equal(a.interval_ms, b.interval_ms)
    assert set(a.interval_ms) <= set(TASK.train_intervals_ms)
    with pytest.raises(ValueError, match="cue_interval_max_ms"):
        CSGTaskConfig(cue_interval_min_ms=500.0, cue_interval_max_ms=400.0)
    with pytest.raises(ValueError, match="batch_size"):
        sample_batch(TASK, 0, torch.Generator())


def test_network_spec_seeded() -> None:
    ms = CSGModelSettings(n_hidden=20, tau_ms=10.0, rec_gain=1.0, in_scale=1.0, sigma_rec=0.0)
    a, b = build_csg_rnn(ms, 1.0, 4), build_csg_rnn(ms, 1.0, 4)
    assert torch.equal(a.w_rec, b.w_rec) and torch.equal(a.w_in, b.w_in)
    assert a.config.activation == "tanh" and float(a.alpha[0]) == pytest.approx(0.1)
    assert torch.all(a.w_out == 0) and a.w_in.abs().max() <= 1.0
    assert a.rec_mask.diagonal().sum() == 20  # autapses kept (merges need them)


# --- behaviour and scaling measures -------------------------------------------------------
def test_behaviour_metrics_oracles() -> None:
    ts = np.array([300.0, 500.0, 700.0])
    m = behaviour_metrics(ts, ts)
    assert m["slope"] == pytest.approx(1.0) and m["bias_ms"] == pytest.approx(0.0)
    assert m["mare"] == 0.0
    m = behaviour_metrics(ts, 0.5 * ts + 200.0)
    assert m["slope"] == pytest.approx(0.5) and m["intercept_ms"] == pytest.approx(200.0)
    reps = np.stack([ts - 10.0, ts + 10.0])
    m = behaviour_metrics(ts, reps)
    assert m["var_ms2"] == pytest.approx(100.0) and m["bias_ms"] == pytest.approx(0.0)
    m = behaviour_metrics(ts, np.array([300.0, np.nan, 700.0]))
    assert m["no_cross_rate"] == pytest.approx(1 / 3) and m["mare"] == pytest.approx(1 / 3)


def _population(intervals, fn, n_units=12, seed=0):
    """Trajectories r_i(t) = fn(t, T, phase_i), one (T, N) array per interval (1 ms)."""
    phases = np.random.default_rng(seed).uniform(0, 2 * np.pi, n_units)
    return [fn(np.arange(int(T) + 1)[:, None], T, phases[None]) for T in intervals]


IV = np.array([300.0, 400.0, 500.0, 600.0, 700.0])


def test_scaling_index_oracles() -> None:
    scaled = _population(IV, lambda t, T, p: np.sin(2 * np.pi * t / T + p))
    absolute = _population(IV, lambda t, T, p: np.sin(2 * np.pi * t / 100.0 + p))
    ramps = _population(IV, lambda t, T, p: (t / T) * np.cos(p))
    assert scaling_indices(scaled, 3, 50)["si_mean"] == pytest.approx(1.0, abs=1e-3)
    assert scaling_indices(ramps, 1, 50)["si_mean"] == pytest.approx(1.0, abs=1e-6)
    assert scaling_indices(absolute, 3, 50)["si_mean"] < 0.3
    z = time_normalise([np.linspace(0, 1, 30), np.linspace(0, 1, 70)], 20)[..., 0]
    assert scaling_index(z) == pytest.approx(1.0)


def test_linear_fraction_and_participation_ratio() -> None:
    ramps = _population(IV, lambda t, T, p: (t / T) * np.cos(p) + 0.1 * np.sin(p))
    waves = _population(IV, lambda t, T, p: np.sin(6 * np.pi * t / T + p))
    assert linear_unit_fraction(ramps, 40)["linear_fraction"] == 1.0
    assert linear_unit_fraction(waves, 40)["linear_fraction"] == 0.0
    rng = np.random.default_rng(0)
    iso = rng.standard_normal((20000, 5)) @ np.linalg.qr(rng.standard_normal((30, 5)))[0].T
    assert participation_ratio(iso) == pytest.approx(5.0, rel=0.05)
    assert participation_ratio(np.outer(np.arange(100.0), rng.standard_normal(8))) == (
        pytest.approx(1.0)
    )


def test_speed_interval_law_oracles() -> None:
    scaled = _population(IV, lambda t, T, p: np.sin(np.pi * t / T + p))
    absolute = _population(IV, lambda t, T, p: np.sin(np.pi * t / 300.0 + p))
    s = speed_interval_law(scaled, IV, 1.0)
    assert s["speed_slope_b"] == pytest.approx(1.0, abs=0.02) and s["speed_r2"] > 0.99
    assert abs(speed_interval_law(absolute, IV, 1.0)["speed_slope_b"]) < 0.1


# --- representational similarity ----------------------------------------------------------
def test_cka_and_procrustes_oracles() -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((500, 10))
    q = np.linalg.qr(rng.standard_normal((10, 10)))[0]
    y = 3.0 * x @ q + 5.0
    assert linear_cka(x, y) == pytest.approx(1.0)
    assert linear_cka(x, x[:, ::-1]) == pytest.approx(1.0)
    assert linear_cka(x, rng.standard_normal((500, 10))) < 0.1
    wide = np.concatenate([x @ q, np.zeros((500, 5))], 1)  # unequal widths: 10 vs 15
    d = procrustes_distance(x, wide)
    assert d["euclidean"] == pytest.approx(0.0, abs=1e-7)
    assert d["angular"] == pytest.approx(0.0, abs=1e-4)
    assert procrustes_distance(x, rng.standard_normal((500, 10)))["angular"] > 1.0
    with pytest.raises(ValueError, match="same number"):
        linear_cka(x, x[:10])


# --- fixed points: τ_eff oracle -----------------------------------------------------------
def test_tau_eff_matches_two_unit_oracle() -> None:
    """Two uncoupled tanh units with self-weights w and a common cue u: x* = w tanh(x*) + u,
    λ = −1 + w sech²(x*), so τ_eff = τ / (1 − max_i w_i sech²(x_i*)) at every cue."""
    ms = CSGModelSettings(n_hidden=2, tau_ms=10.0, rec_gain=1.0, in_scale=1.0, sigma_rec=0.0)
    template = build_csg_rnn(ms, 1.0, 0)
    w_self = np.array([0.5, 0.8])
    net = ctrnn_like(
        template,
        {
            "rec": np.diag(w_self),
            "in": np.array([[1.0, 0.0], [1.0, 0.0]]),
            "b_rec": np.zeros(2),
            "out": np.ones((1, 2)),
            "b_out": np.zeros(1),
        },
    )
    task = CSGTaskConfig(cue_interval_min_ms=100.0, cue_interval_max_ms=200.0)
    cues = np.array([0.1, 0.6])
    fps = FixedPointSettings(
        n_cues=2, n_starts=8, jitter=0.01, adam_steps=50, polish_steps=20, max_candidates=8, seed=0
    )
    res = fixed_points_per_cue(net, task, cues, fps)
    for c, u in enumerate(cues):
        xs = [brentq(lambda x, w=w, u=u: x - w * np.tanh(x) - u, -10, 10) for w in w_self]
        lam = max(w / np.cosh(x) ** 2 for w, x in zip(w_self, xs, strict=True))
        assert res["tau_eff_terminal_ms"][c] == pytest.approx(10.0 / (1.0 - lam), rel=1e-6)
        assert res["n_fixed"][c] == 1 and res["terminal_stable"][c]


def test_classify_solution() -> None:
    th = ClassifySettings(
        max_mare=0.1,
        min_si=0.7,
        min_speed_slope=0.5,
        max_linear_fraction=0.5,
        min_participation_ratio=2.0,
    )
    base = {
        "mare": 0.02,
        "si_mean": 0.9,
        "speed_slope_b": 0.9,
        "linear_fraction": 0.1,
        "participation_ratio": 3.0,
    }
    assert classify_solution(base, th) == "scaling"
    assert classify_solution({**base, "linear_fraction": 0.9}, th) == "ramp"
    assert classify_solution({**base, "participation_ratio": 1.1}, th) == "ramp"
    assert classify_solution({**base, "si_mean": 0.3}, th) == "non-scaling"
    assert classify_solution({**base, "mare": 0.5}, th) == "failed"


# --- reduction methods --------------------------------------------------------------------
def _duplicated_net(n: int = 12, dup: tuple[int, int] = (2, 7), seed: int = 0):
    """A random tanh CTRNN where unit dup[1] copies dup[0]'s inputs (so r_j ≡ r_i)."""
    ms = CSGModelSettings(n_hidden=n, tau_ms=10.0, rec_gain=1.2, in_scale=1.0, sigma_rec=0.0)
    net = build_csg_rnn(ms, 1.0, seed)
    w = weights_of(net)
    w["out"] = np.random.default_rng(seed).standard_normal((1, n)) * 0.3
    i, j = dup
    w["rec"][j] = w["rec"][i]
    w["in"][j] = w["in"][i]
    w["b_rec"][j] = w["b_rec"][i]
    return ctrnn_like(net, w), w


def _outputs(net, intervals=(150.0, 250.0)):
    task = CSGTaskConfig(cue_interval_min_ms=150.0, cue_interval_max_ms=250.0)
    b = eval_trials(task, np.array(intervals))
    with torch.no_grad():
        out, rates = net(b.inputs)
    return out[..., 0].double().numpy(), rates.double().numpy()


def test_merge_pair_is_exact_for_duplicate_units() -> None:
    net, w = _duplicated_net()
    out0, rates = _outputs(net)
    assert np.allclose(rates[..., 2], rates[..., 7])
    merged = cr.merge_pair(w, 2, 7)
    assert merged["rec"].shape == (11, 11)
    out1, _ = _outputs(ctrnn_like(net, merged))
    assert np.max(np.abs(out1 - out0)) < 1e-5
    # the similarity rule finds the duplicate pair first
    sim = cr.unit_similarity(rates.reshape(-1, 12), "correlation")
    assert np.unravel_index(np.argmax(sim), sim.shape) in {(2, 7), (7, 2)}
    assert cr.merge_round(w, rates.reshape(-1, 12), 1, "correlation", "sum")["rec"].shape[0] == 11


def test_ls_prune_exact_when_dropped_units_are_affine() -> None:
    net, w = _duplicated_net()
    out0, rates = _outputs(net)
    keep = np.array([k for k in range(12) if k != 7])
    pruned = cr.ls_prune(w, rates.reshape(-1, 12), 11, ridge=0.0, keep=keep)
    out1, _ = _outputs(ctrnn_like(net, pruned))
    assert np.max(np.abs(out1 - out0)) < 1e-4
    # plain deletion of the same unit is not exact
    out2, _ = _outputs(ctrnn_like(net, cr.keep_units(w, keep)))
    assert np.max(np.abs(out2 - out0)) > 1e-3


def test_svd_truncation_and_random_deletion() -> None:
    _, w = _duplicated_net()
    s = np.linalg.svd(w["rec"], compute_uv=False)
    assert np.allclose(cr.svd_truncate(w, 12)["rec"], w["rec"])
    w3 = cr.svd_truncate(w, 3)
    assert np.linalg.matrix_rank(w3["rec"], tol=1e-8) == 3
    assert np.linalg.norm(w["rec"] - w3["rec"]) == pytest.approx(np.sqrt(np.sum(s[3:] ** 2)))
    a = cr.random_deletion(w, 5, np.random.default_rng(1))
    b = cr.random_deletion(w, 5, np.random.default_rng(1))
    assert a["rec"].shape == (5, 5) and np.array_equal(a["rec"], b["rec"])
    with pytest.raises(ValueError, match="n_keep"):
        cr.random_deletion(w, 0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="criterion"):
        cr.unit_similarity(np.ones((5, 3)), "bogus")


def test_pair_merge_reaches_size() -> None:
    net, w = _duplicated_net()

    def rates_fn(weights):
        return _outputs(ctrnn_like(net, weights))[1].reshape(-1, weights["rec"].shape[0])

    out = cr.pair_merge(w, rates_fn, 6, pairs_per_round=4, scale="regression")
    assert out["rec"].shape == (6, 6) and out["out"].shape == (1, 6)
