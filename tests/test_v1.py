"""V1 layer-5 rate model (circuits.md part B): connectivity, stimulus, dynamics, plasticity,
the chunked low-rank simulator against a naive loop, selectivity/QC/loss oracles, and the
legacy switch's differences. Tiny networks, CPU, a few seconds in all."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from conftest import ROOT, smoke_params
from scipy.integrate import simpson

from rnnlab.analysis import v1_selectivity as sel
from rnnlab.analysis.v1_tune import trial_params
from rnnlab.circuits.v1 import connectivity as conn
from rnnlab.circuits.v1 import dynamics, plasticity, stimulus
from rnnlab.circuits.v1.simulate import V1Run, simulate, simulate_one


@pytest.fixture(autouse=True)
def _one_blas_thread():
    """One BLAS thread: two contending threads on a shared 2-core box are many times slower."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


REFERENCE_K = [[7, 0, 8, 10], [25, 16, 60, 72], [20, 17, 23, 6], [18, 4, 10, 3]]  # B2 (verified)


def study_params() -> dict:
    import yaml

    from rnnlab.params import deep_merge

    p = smoke_params()
    if "v1" in p:
        return p["v1"]
    d = ROOT / "drafts" / "v1"
    base = yaml.safe_load((d / "params.yaml").read_text())
    return deep_merge(base, yaml.safe_load((d / "smoke.yaml").read_text()) or {})


def tiny(**changes) -> dict:
    """Smoke simulate section, shorter still; ``changes`` as dotted-key overrides."""
    p = copy.deepcopy(study_params()["simulate"])
    p["n_simulations"] = 1
    p["dynamics"]["duration_tau"] = 12  # 120 steps
    p["plasticity"]["steps_before_learning"] = 40
    p["analysis"].update(after_bins=2, before_bins=1, final_weight_bins=2, bin_steps=10)
    for key, value in changes.items():
        node = p
        *path, last = key.split(".")
        for k in path:
            node = node[k]
        node[last] = value
    return p


# ---------------------------------------------------------------- connectivity


def test_in_degrees_match_reference_table():
    net = study_params()["simulate"]["network"]
    k = conn.in_degrees([45, 275, 46, 34], net["prob"])
    assert k.tolist() == REFERENCE_K


def test_fixed_indegree_matrix_degrees_signs_no_autapses():
    net = study_params()["simulate"]["network"]
    n = [9, 55, 9, 7]
    rng = np.random.default_rng(0)
    w_type = conn.sample_type_weights(net["w_target"], "all", 0.1, rng)
    w = conn.fixed_indegree_matrix(n, net["prob"], w_type, 0.03, rng)
    k = conn.in_degrees(n, net["prob"])
    starts = conn.population_starts(n)
    pop = conn.population_of_neuron(n)
    assert np.all(np.diag(w) == 0)
    for post in range(w.shape[0]):
        for a in range(4):
            block = w[post, starts[a] : starts[a] + n[a]]
            assert np.count_nonzero(block) == k[a, pop[post]]
    assert np.all(w[:, pop < 2] >= 0) and np.all(w[:, pop >= 2] <= 0)  # Dale by presynaptic type


def test_normalisation_options():
    rng = np.random.default_rng(1)
    w = rng.normal(size=(30, 30)) + 0.3
    w1, s1 = conn.normalise(w, "max_real_eig")
    assert np.max(np.linalg.eigvals(w1).real) == pytest.approx(1.0)
    w2, s2 = conn.normalise(w, "spectral_radius")
    assert np.max(np.abs(np.linalg.eigvals(w2))) == pytest.approx(1.0)
    assert s2 >= s1
    with pytest.raises(ValueError, match="normalisation"):
        conn.normalise(w, "frobenius")
    with pytest.raises(ValueError, match="scale"):
        conn.normalise(-np.eye(3), "max_real_eig")


def test_block_stats_against_brute_force():
    n = [2, 3, 1, 2]
    w = np.random.default_rng(2).normal(size=(8, 8))
    mean, std = conn.block_stats(w, n)
    s = conn.population_starts(n)
    for i in range(4):
        for j in range(4):
            block = w[s[i] : s[i] + n[i], s[j] : s[j] + n[j]]
            assert mean[i, j] == pytest.approx(block.mean())
            assert std[i, j] == pytest.approx(block.std())


# ---------------------------------------------------------------- stimulus and dynamics


def test_stimulus_disk_phase_and_steady():
    rng = np.random.default_rng(3)
    a, b = stimulus.receptive_fields(500, rng)
    assert np.all(a**2 + b**2 <= 1.0)
    pop = conn.population_of_neuron([2, 3, 2, 1])
    a, b = a[:8], b[:8]
    no_phase = stimulus.spatial_profile(a, b, pop, [1, 2, 3, 4], [0, 90, 180, 270], 10.0, 0.0)
    np.testing.assert_allclose(no_phase[0], no_phase[2])  # no DS without a spatial phase
    with_phase = stimulus.spatial_profile(a, b, pop, [1, 2, 3, 4], [0, 90, 180, 270], 10.0, 1.0)
    assert not np.allclose(with_phase[0], with_phase[2])
    assert np.all(np.abs(with_phase) <= np.array([1, 2, 3, 4])[pop] + 1e-12)
    c = stimulus.temporal_factor(np.arange(5), [True, False, False, True], 50.0)
    np.testing.assert_allclose(c[:, 0], np.cos(50.0))
    np.testing.assert_allclose(c[:, 1], np.cos(50.0 * np.arange(5)))
    full = stimulus.grating(with_phase, pop, 5, [True, False, False, True], 50.0)
    np.testing.assert_allclose(full[3], with_phase * c[3][pop])


def test_dynamics_fixed_point_floor_and_rk4():
    w = np.zeros((1, 3, 3))
    inp = np.array([[0.5, -1.0, 2.0]])
    r = np.zeros((1, 3))
    for _ in range(400):
        r = dynamics.step(r, dynamics.matvec(w), inp, 0.01, 0.1)
    np.testing.assert_allclose(r, [[0.5, 0.01, 2.0]], atol=1e-6)  # floor 0.01, not 0
    w = np.random.default_rng(4).normal(scale=0.3, size=(1, 3, 3))
    r_e = r_k = np.full((1, 3), 0.2)
    for _ in range(50):
        r_e = dynamics.step(r_e, dynamics.matvec(w), inp, 1e-4, 0.1)
    r_k = dynamics.step(r_k, dynamics.matvec(w), inp, 50e-4, 0.1, integrator="rk4")
    np.testing.assert_allclose(r_k, r_e, atol=1e-4)
    with pytest.raises(ValueError, match="integrator"):
        dynamics.step(r, dynamics.matvec(w), inp, 0.01, 0.1, integrator="euler2")


# ---------------------------------------------------------------- plasticity


def test_rate_window_thresholds_against_brute_force():
    rng = np.random.default_rng(5)
    dt, tau_th, length = 0.01, 0.05, 12
    rec = plasticity.RateWindow(length, (2, 3), dt, tau_th, "recursive")
    sim = plasticity.RateWindow(length, (2, 3), dt, tau_th, "simpson")
    hist = []
    for _ in range(30):
        r = rng.uniform(0, 1, (2, 3))
        hist.append(r)
        rec.push(r)
        sim.push(r)
        win = np.array(hist[-length:])
        ages = (len(win) - 1 - np.arange(len(win))) * dt
        kern = np.exp(-ages / tau_th)[:, None, None]
        np.testing.assert_allclose(rec.mean(), win.mean(0))
        np.testing.assert_allclose(rec.mean_sq(), (win**2).mean(0))
        np.testing.assert_allclose(rec.sliding_threshold(), (kern * win**2).sum(0) * dt / tau_th)
        if len(win) >= 3:
            ref = simpson(kern * win**2, dx=dt, axis=0) / tau_th
            np.testing.assert_allclose(sim.sliding_threshold(), ref)
    assert plasticity.window_length(2.7922382927606537, 0.01, 10**6) == 642  # B5
    assert plasticity.window_length(2000.0, 0.01, 2500) == 2500


def test_masks_signs_and_patterns():
    n = [2, 3, 2, 1]
    assert plasticity.row_mask("all", "excit_only", n).tolist() == [1] * 5 + [0] * 3
    assert plasticity.col_mask("inhibit_only", n).tolist() == [0] * 5 + [1] * 3
    assert plasticity.row_mask("all", "inhibit_only", n).tolist() == [0] * 5 + [1] * 3
    legacy = plasticity.row_mask("all", "inhibit_only", n, legacy=True)
    assert legacy.tolist() == [0] * 3 + [1] * 5  # the original zeroed the first sum(N[2:]) rows
    assert plasticity.row_mask("PV", "all", n).tolist() == [0] * 5 + [1, 1, 0]
    assert plasticity.row_mask("PV", "all", n, legacy=True).tolist() == [1] * 8  # no-op
    assert plasticity.row_mask("rest", "all", n).sum() == 0
    assert plasticity.presynaptic_sign("bcm", n, legacy=True).tolist() == [1] * 8
    assert plasticity.presynaptic_sign("bcm", n).tolist() == [1] * 5 + [-1] * 3
    assert plasticity.presynaptic_sign("cov", n, legacy=True).tolist() == [1] * 5 + [-1] * 3
    modes = plasticity.phase_modes("cc_cs_alter", 10)
    assert modes[:10] == ["CS"] * 10 and modes[10:20] == ["CC"] * 10 and modes[20:] == ["rest"] * 10
    with pytest.raises(ValueError, match="phase_pattern"):
        plasticity.phase_modes("zigzag", 10)


def _naive_factors(
    plast: dict, win: np.ndarray, r: np.ndarray, inp: np.ndarray, w: np.ndarray, dt: float
) -> tuple[np.ndarray, np.ndarray]:
    """Rank-one factors from an explicit window of past rates (L, D, N), straight from B5."""
    rule = plast["rule"]
    if rule in ("bcm", "slide_bcm"):
        if rule == "bcm":
            theta = (win**2).mean(0)
        else:
            ages = (len(win) - 1 - np.arange(len(win))) * dt
            f = np.exp(-ages / plast["tau_threshold"])[:, None, None] * win**2
            if plast["threshold_quadrature"] == "simpson":
                theta = simpson(f, dx=dt, axis=0) / plast["tau_threshold"]
            else:
                theta = f.sum(0) * dt / plast["tau_threshold"]
        theta = np.maximum(theta, np.finfo(np.float64).tiny)
        return r * (r - theta) / theta, inp if plast["presynaptic"] == "input" else r
    if rule == "oja":
        return r, r + inp - np.matmul(w, r[..., None])[..., 0]
    centred = r - win.mean(0)  # cov
    return centred, centred


def _naive(params: dict, seed_seq: np.random.SeedSequence) -> dict:
    """Straightforward loop as the original: full W updated every step, W kept per step, the
    plasticity window a slice of the list of all rates with the initial rates first."""
    net, dyn, stim, plast = (params[k] for k in ("network", "dynamics", "stimulus", "plasticity"))
    rng = np.random.default_rng(seed_seq)
    n = np.asarray(net["n_per_population"])
    pop = conn.population_of_neuron(n)
    w_type = conn.sample_type_weights(net["w_target"], plast["neurons"], 0.1, rng)
    w0 = conn.fixed_indegree_matrix(n, net["prob"], w_type, net["w_noise"], rng)
    w0, _ = conn.normalise(w0, net["normalisation"])
    r0 = rng.uniform(0, 1, n.sum())
    a, b = stimulus.receptive_fields(n.sum(), rng)
    prof = stimulus.spatial_profile(
        a,
        b,
        pop,
        stim["amplitude"],
        stim["directions_deg"],
        stim["spatial_frequency"],
        stim["spatial_phase"],
    )
    steps = int(round(dyn["duration_tau"] * dyn["tau"] / dyn["dt"]))
    inp_all = stimulus.grating(prof, pop, steps, stim["steady"], stim["temporal_frequency"])
    length = int(-(plast["tau_threshold"] / dyn["dt"]) * np.log(0.1))  # B5: 642 in debug_config
    modes = plasticity.phase_modes(plast["phase_pattern"], plast["steps_per_mode"])
    cols = plasticity.col_mask(plast["neurons"], n) * plasticity.presynaptic_sign(
        plast["rule"], n, params["legacy"]
    )
    r, w = np.tile(r0, (4, 1)), np.tile(w0, (4, 1, 1))
    history = [r]  # all rates, initial ones first (the original's all_act)
    rates, ws = [], []
    for t in range(steps):
        r = dynamics.step(r, dynamics.matvec(w), inp_all[t], dyn["dt"], dyn["tau"])
        history.append(r)
        mode = modes[t % len(modes)]
        if t >= plast["steps_before_learning"] and mode != "rest":
            win = np.array(history[-length:])
            u, v = _naive_factors(plast, win, r, inp_all[t], w, dyn["dt"])
            rows = plasticity.row_mask(mode, plast["neurons"], n, params["legacy"])
            w = w + dyn["dt"] / plast["tau_learn"] * (u * rows)[:, :, None] * (v * cols)[:, None]
        rates.append(r)
        ws.append(w)
    return {"rates": np.array(rates), "w": np.array(ws), "w0": w0}


@pytest.mark.parametrize(
    ("rule", "pattern", "quadrature"),
    [
        ("slide_bcm", "no_alter", "recursive"),
        ("slide_bcm", "no_alter", "simpson"),
        ("bcm", "no_alter", "recursive"),
        ("oja", "cc_cs_alter", "recursive"),
        ("cov", "all_alter", "recursive"),
    ],
)
def test_chunked_simulator_matches_naive_loop(rule, pattern, quadrature):
    """Learning starts (step 40) before the 642-step window is full, so the window holds r0."""
    p = tiny(
        **{
            "plasticity.rule": rule,
            "plasticity.phase_pattern": pattern,
            "plasticity.threshold_quadrature": quadrature,
        }
    )
    p["plasticity"]["tau_learn"] = 5.0  # visible learning in 80 steps
    seq = np.random.SeedSequence(7)
    fast, ref = simulate_one(p, seq), _naive(p, seq)
    b = p["analysis"]["bin_steps"]
    binned = ref["rates"].reshape(-1, b, *ref["rates"].shape[1:]).mean(1).transpose(1, 0, 2)
    np.testing.assert_allclose(fast["rates_binned"], binned, rtol=1e-9, atol=1e-12)
    last = p["analysis"]["final_weight_bins"] * b
    final = ref["w"][-last:].mean(0)
    mean, std = conn.block_stats(final, p["network"]["n_per_population"])
    np.testing.assert_allclose(fast["w_final_mean"], mean, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(fast["w_final_std"], std, rtol=1e-9, atol=1e-12)
    blocks = conn.block_stats(ref["w"], p["network"]["n_per_population"])[0]
    blocks = blocks.reshape(-1, b, 4, 4, 4).mean(1).transpose(1, 0, 2, 3)
    np.testing.assert_allclose(fast["block_mean_time"], blocks, rtol=1e-8, atol=1e-12)
    assert not np.allclose(final, ref["w0"])  # learning did something


def test_seeded_runs_repeat_bit_for_bit():
    p = tiny(n_simulations=2)
    r1, r2 = simulate(p), simulate(p)
    for key in ("rates_binned", "block_mean_time", "w_final_mean", "w_final_std"):
        assert np.array_equal(getattr(r1, key), getattr(r2, key))
    one = simulate(tiny(n_simulations=1))
    assert np.array_equal(one.rates_binned[0], r1.rates_binned[0])  # sim 0 same in both sets
    other = simulate(tiny(n_simulations=1, seed=51))
    assert not np.array_equal(other.rates_binned[0], r1.rates_binned[0])
    with pytest.raises(ValueError, match="rule"):
        simulate(tiny(**{"plasticity.rule": "hebb"}))


# ---------------------------------------------------------------- analysis oracles


def test_selectivity_indices_oracle():
    resp = np.array([[4.0, 1.0], [1.0, 1.0], [2.0, 1.0], [1.0, 1.0]])  # (4 directions, 2 neurons)
    idx = sel.selectivity_indices(resp)
    # neuron 0: pref 4, oppo 2, orth 1 -> OS = (3 - 1)/(3 + 1), DS = 2/6, OS_p = 3/5
    assert idx["OS"][0] == pytest.approx(0.5)
    assert idx["DS"][0] == pytest.approx(1 / 3)
    assert idx["OS_p"][0] == pytest.approx(0.6)
    assert idx["OS"][1] == 0 and idx["DS"][1] == 0


def _synthetic_run(rates: np.ndarray, steps_before: int = 500) -> V1Run:
    s, d, nb, n = rates.shape
    z = np.zeros((s, d, 4, 4))
    return V1Run(
        n_per_population=np.array([1, 1, 1, 1]) * (n // 4),
        directions_deg=np.array([0.0, 90.0, 180.0, 270.0]),
        bin_steps=25,
        n_steps=25 * nb,
        steps_before_learning=steps_before,
        rates_binned=rates,
        block_mean_time=np.zeros((s, d, nb, 4, 4)),
        w_initial_mean=np.ones((s, 4, 4)),
        w_initial_std=np.full((s, 4, 4), 0.5),
        w_final_mean=z + 2.0,
        w_final_std=z + 0.25,
        w_delta_mean=z + 1.0,
        w_delta_std=z + 0.1,
        type_weights=np.zeros((s, 4, 4)),
        eig_scale=np.ones(s),
        seconds=0.0,
    )


def test_legacy_switch_differences():
    """Fixed vs legacy: weight mean/std aliasing, 'before' window, equilibrium test, amplitudes."""
    p = study_params()["simulate"]
    rates = np.ones((1, 4, 100, 4))
    rates[..., 95:, 0] = 2.0  # neuron 0 rises in the last 5 bins (non-equilibrium, increasing)
    run = _synthetic_run(rates)
    ana = dict(p["analysis"], after_bins=20, before_bins=5, equilibrium_bins=5)
    dyn = {"dt": 0.01, "tau": 0.1}
    fixed = sel.window_bins(run, ana, dyn, legacy=False)
    legacy = sel.window_bins(run, ana, dyn, legacy=True)
    assert (fixed["before"].start, fixed["before"].stop) == (15, 20)  # 5 bins before step 500
    assert (legacy["before"].start, legacy["before"].stop) == (0, 2)  # int(50/25): bins 0-1
    w_fixed, w_legacy = sel.weight_table(run, False), sel.weight_table(run, True)
    np.testing.assert_allclose(w_fixed["Mean_weight"], 2.0)  # true block mean
    np.testing.assert_allclose(w_legacy["Mean_weight"], 0.25)  # aliased: the block std
    np.testing.assert_allclose(w_legacy["Mean_Wini"], w_legacy["Mean_std_Wini"])
    assert sel.qc_counters(run, ana, legacy=False)["non_equilibrium"] == 4
    assert sel.qc_counters(run, ana, legacy=True)["non_equilibrium"] == 0  # one-sided
    values = {
        "cs": 1.0,
        "cc": 2.0,
        "pv": 3.0,
        "sst": 4.0,
        "tau_learn": 1000.0,
        "tau_threshold_factor": 0.5,
    }
    assert trial_params(dict(p, legacy=False), values)["stimulus"]["amplitude"] == [1, 2, 3, 4]
    assert trial_params(dict(p, legacy=True), values)["stimulus"]["amplitude"] == [2, 1, 3, 4]
    assert trial_params(p, values)["plasticity"]["tau_threshold"] == 500.0


def test_legacy_changes_simulated_numbers():
    p = tiny()
    fixed = sel.evaluate(simulate(p), p)
    p_leg = dict(p, legacy=True)
    legacy = sel.evaluate(simulate(p_leg), p_leg)
    assert fixed["tables"]["after"]["Mean_of_OS"] == pytest.approx(
        legacy["tables"]["after"]["Mean_of_OS"]
    )  # plasticity is slow: 'after' barely depends on the switch here
    assert not np.allclose(fixed["weights"]["Mean_weight"], legacy["weights"]["Mean_weight"])
    assert not np.allclose(
        fixed["tables"]["before"]["Mean_of_DS"], legacy["tables"]["before"]["Mean_of_DS"]
    )


def test_qc_nan_runs_and_bad_directions():
    rates = np.ones((2, 4, 20, 4))
    rates[1, 2, -1, :] = np.nan
    run = _synthetic_run(rates, steps_before=100)
    ana = {"equilibrium_bins": 5, "equilibrium_tol": 0.05}
    qc = sel.qc_counters(run, ana, legacy=False)
    assert qc["nan_runs"] == 1 and qc["runs"] == 8
    run.directions_deg = np.array([0.0, 45.0, 90.0, 135.0])
    with pytest.raises(ValueError, match="directions"):
        sel.evaluate(run, study_params()["simulate"])


def test_loss_oracle():
    ones = np.ones(4)
    after = {"Mean_of_OS": ones * 0.5, "Mean_of_DS": ones * 0.75, "Mean_of_OS_p": ones}
    before = {"Mean_of_OS": ones * 0.25, "Mean_of_DS": ones * 0.5, "Mean_of_OS_p": ones}
    for k in ("OS", "DS", "OS_p"):
        after[f"Std_mean_{k}"] = ones * 0.1
        after[f"Mean_std_{k}"] = ones * 0.2
    after["Mean_std"] = ones * 0.3
    w_compare = np.arange(16.0).reshape(4, 4)
    weights = {"Mean_weight": w_compare.T.reshape(16) + 0.5}
    t = sel.loss_terms(after, before, weights, w_compare)
    assert t["weight_rmse"] == pytest.approx(0.5)
    assert t["delta_ds"] == pytest.approx(1.0) and t["delta_os"] == pytest.approx(1.0)
    assert t["sel_std"] == pytest.approx(0.3) and t["sel_std_sim"] == pytest.approx(0.9)
    assert t["loss"] == pytest.approx(abs(10 * 1.5 - 1.0 + 0.1 * 1.2))


def test_other_options_run_and_only_chosen_synapses_learn():
    p = tiny(
        **{
            "dynamics.integrator": "rk4",
            "plasticity.rule": "bcm",
            "plasticity.neurons": "excit_only",
            "plasticity.presynaptic": "rate",
            "plasticity.tau_learn": 5.0,
            "network.normalisation": "spectral_radius",
            "stimulus.steady": [True, False, True, False],
        }
    )
    run = simulate(p)
    assert np.all(np.isfinite(run.rates_binned))
    delta = np.abs(run.w_delta_mean[0, 0])  # [post, pre]
    assert np.all(delta[:2, :2] > 1e-9)  # E -> E learned
    assert np.all(delta[2:, :] < 1e-15) and np.all(delta[:, 2:] < 1e-15)  # I: rounding only
