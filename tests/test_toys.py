"""Toy-circuit gallery (condense.md §4) against its oracles.

LIF: Mg block and f–I values from the closed forms; the simulated f–I equals the analytic
rate (exact exponential step + interpolated spike times). Two-unit network: RK4 equals the
closed form, each eigen-mode relaxes with τ/(1 − λ). Rubin et al. 2009: period ≈ 2.52 s
(±3 %), phase timing, and the documented changes when drives are removed. Ring attractor:
half-widths 2.09 / 1.57 / 1.30 rad (±0.02) at w1 = 2.5 / 4 / 6, no bump below w1 = 2, runaway
when the peak's denominator is negative, a bump that follows a moving input with the
reference lag. Stage functions write the contract keys. CPU only, tiny runs.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import ROOT, smoke_params
from PIL import Image

from rnnlab.circuits.toys import lif, ring, rubin, stage, two_unit
from rnnlab.io import read_json


def study_params() -> dict:
    import yaml

    from rnnlab.params import deep_merge

    p = smoke_params()
    if "toys" in p:
        return p["toys"]
    d = ROOT / "drafts" / "toys"
    base = yaml.safe_load((d / "params.yaml").read_text())
    return deep_merge(base, yaml.safe_load((d / "smoke.yaml").read_text()) or {})


# ---------------------------------------------------------------- LIF


def test_mg_block_matches_reference_values() -> None:
    v = np.array([-70.0, -55.0, -50.0, -20.0, 0.0])
    expected = np.array([0.0445, 0.1055, 0.1385, 0.508, 0.781])
    np.testing.assert_allclose(lif.mg_block(v), expected, atol=6e-4)


def test_analytic_lif_rates_match_reference() -> None:
    assert lif.rheobase_na(lif.PYRAMIDAL) == pytest.approx(0.5)
    assert lif.PYRAMIDAL.tau_m_ms == pytest.approx(20.0)
    np.testing.assert_allclose(
        lif.analytic_rate_hz([0.4, 0.5, 0.6, 1.0, 2.0]), [0, 0, 54.9, 154.7, 277.7], atol=0.06
    )
    np.testing.assert_allclose(
        lif.analytic_rate_hz([0.5, 1.0], lif.INTERNEURON), [126, 394], atol=0.6
    )


@pytest.mark.parametrize("dt_ms", [0.1, 0.5])
def test_simulated_fi_equals_analytic_rate(dt_ms: float) -> None:
    currents = np.array([0.3, 0.49, 0.55, 0.6, 1.0, 2.0])
    sim, ana = lif.fi_curve(lif.PYRAMIDAL, currents, 400.0, dt_ms)
    assert np.all(sim[ana == 0] == 0)
    np.testing.assert_allclose(sim[ana > 0], ana[ana > 0], rtol=1e-6)
    sim_i, ana_i = lif.fi_curve(lif.INTERNEURON, np.array([0.5, 1.0]), 200.0, dt_ms)
    np.testing.assert_allclose(sim_i, ana_i, rtol=1e-6)


def test_refractory_period_caps_the_rate() -> None:
    run = lif.simulate(lif.PYRAMIDAL, 100.0, 0.1, current_na=50.0)
    isi = np.diff(run.spike_times_ms[0])
    assert isi.min() >= lif.PYRAMIDAL.tau_ref_ms
    assert 1e3 / isi.mean() < 1e3 / lif.PYRAMIDAL.tau_ref_ms


def test_synaptic_input_is_seeded_and_gaba_shunts() -> None:
    kw = dict(syn_rates_hz={"ampa": 1000.0, "gaba": 2000.0}, record=False)

    def spikes(seed: int, g_gaba: float) -> list[np.ndarray]:
        return lif.simulate(
            lif.PYRAMIDAL,
            300.0,
            0.1,
            current_na=0.6,
            n=3,
            syn_g_ns={"ampa": 0.5, "gaba": g_gaba},
            rng=np.random.default_rng(seed),
            **kw,
        ).spike_times_ms

    a, b = spikes(3, 2.0), spikes(3, 2.0)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    n_with = sum(s.size for s in a)
    n_without = sum(s.size for s in spikes(3, 0.0))
    assert n_with < 0.7 * n_without


def test_lif_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="v_reset_mv"):
        lif.LIFParams(v_reset_mv=-40.0)
    with pytest.raises(KeyError, match="unknown LIF"):
        lif.LIFParams.from_mapping({"tau_m_ms": 20.0})
    with pytest.raises(ValueError, match="seeded rng"):
        lif.simulate(lif.PYRAMIDAL, 10.0, 0.1, syn_rates_hz={"ampa": 100.0})


# ---------------------------------------------------------------- two-unit network


@pytest.mark.parametrize(
    "w", [((0.6, 0.3), (0.2, 0.5)), ((0.0, 0.8), (0.8, 0.0)), ((0.5, 0.0), (0.0, -1.0))]
)
def test_two_unit_modes_relax_with_tau_over_one_minus_lambda(w) -> None:
    p = two_unit.TwoUnitParams(w=w, i=(1.0, -0.5), tau_s=0.01)
    lam, vec, tau_k = two_unit.modes(p)
    np.testing.assert_allclose(tau_k, 0.01 / (1 - lam))
    np.testing.assert_allclose(p.w_arr @ vec, vec * lam, atol=1e-12)
    x0 = np.array([0.3, -2.0])
    t, x = two_unit.simulate(p, x0, 0.2, 2e-4)
    np.testing.assert_allclose(x, two_unit.closed_form(p, t, x0), atol=1e-8)
    x_star = two_unit.fixed_point(p)
    np.testing.assert_allclose((np.eye(2) - p.w_arr) @ x_star, p.i_arr)
    np.testing.assert_allclose(two_unit.fitted_time_constants(p, t, x, x_star), tau_k, rtol=1e-5)


def test_input_along_an_eigenvector_excites_only_that_mode() -> None:
    p = two_unit.TwoUnitParams(i=(0.0, 0.0))
    _, vec, tau_k = two_unit.modes(p)
    t, x = two_unit.simulate(p, vec[:, 1] * 2.0, 0.1, 1e-4)
    np.testing.assert_allclose(x, np.exp(-t / tau_k[1])[:, None] * 2.0 * vec[:, 1], atol=1e-9)
    fitted = two_unit.fitted_time_constants(p, t, x, np.zeros(2))
    assert np.isnan(fitted[0]) and fitted[1] == pytest.approx(tau_k[1], rel=1e-6)


def test_two_unit_rejects_unstable_or_rotating_weights() -> None:
    with pytest.raises(ValueError, match="real and < 1"):
        two_unit.TwoUnitParams(w=((1.2, 0.0), (0.0, 0.5)))
    with pytest.raises(ValueError, match="real and < 1"):
        two_unit.TwoUnitParams(w=((0.0, -1.0), (1.0, 0.0)))


# ---------------------------------------------------------------- Rubin et al. 2009


def _rubin(drives=(1.0, 1.0, 1.0), **extra) -> dict:
    p = rubin.RubinParams.from_mapping({"drives": list(drives), **extra})
    return rubin.analyse(rubin.simulate(p, duration_s=22.0), transient_s=10.0)


def test_rubin_default_three_phase_rhythm() -> None:
    res = _rubin()
    assert res["rhythmic"] and res["period_s"] == pytest.approx(2.52, rel=0.03)
    assert res["period_s"] == pytest.approx(2.519, rel=0.005)  # tighter: the simulated oracle
    pops = res["populations"]
    # inspiration: pre-I and early-I burst at onset; post-I at ~0.9 s; aug-E peaks at ~2.0 s
    assert pops["pre-I"]["active_s"] == pytest.approx(0.89, rel=0.05)
    assert pops["early-I"]["active_s"] == pytest.approx(0.78, rel=0.05)
    assert pops["early-I"]["peak_time_s"] < 0.1
    assert pops["post-I"]["peak_time_s"] == pytest.approx(0.9, abs=0.05)
    assert pops["aug-E"]["peak_time_s"] == pytest.approx(2.0, abs=0.1)
    peaks = [pops[k]["peak_output"] for k in rubin.POPULATIONS]
    np.testing.assert_allclose(peaks, [0.63, 0.81, 0.48, 0.15], atol=0.02)
    assert pops["pre-I"]["v_min_mv"] == pytest.approx(-60, abs=1.5)
    assert pops["pre-I"]["v_max_mv"] == pytest.approx(-26, abs=1.5)


@pytest.mark.parametrize(
    ("drives", "period_s", "aug_e_silent"),
    [
        ((1.0, 1.0, 0.0), 2.590, False),
        ((1.0, 0.0, 0.0), 3.027, True),
        ((0.5, 1.0, 1.0), 2.318, False),
    ],
)
def test_rubin_drive_removal(drives, period_s: float, aug_e_silent: bool) -> None:
    res = _rubin(drives)
    assert res["period_s"] == pytest.approx(period_s, rel=0.02)
    assert (res["populations"]["aug-E"]["peak_output"] < 0.05) is aug_e_silent


def test_rubin_disinhibited_pre_i_is_tonic() -> None:
    b = [list(r) for r in rubin.PUBLISHED.b]
    b[0] = [0.0, 0.0, 0.0, 0.0]  # b31 = b41 = 0
    res = _rubin(b=b)
    assert not res["rhythmic"]
    assert res["populations"]["pre-I"]["v_max_mv"] == pytest.approx(-31, abs=1.0)


def test_rubin_rejects_unknown_parameter() -> None:
    with pytest.raises(KeyError, match="unknown Rubin"):
        rubin.RubinParams.from_mapping({"g_nap": 5.0})


# ---------------------------------------------------------------- ring attractor


def test_ring_closed_form_half_widths() -> None:
    for w1, expected in ((2.5, 2.09), (4.0, 1.57), (6.0, 1.30)):
        theta_c = ring.half_width_closed_form(w1)
        assert theta_c == pytest.approx(expected, abs=0.005)
        assert w1 * (theta_c - 0.5 * np.sin(2 * theta_c)) == pytest.approx(2 * np.pi)
    assert ring.half_width_closed_form(2.0) is None and ring.half_width_closed_form(1.5) is None
    assert ring.peak_closed_form(-2.0, 4.0, 1.0) == pytest.approx(np.pi / 2)
    assert ring.peak_closed_form(0.0, 4.0, 1.0) is None  # runaway predicted
    assert ring.peak_closed_form(-2.0, 10.0, 1.0) is None


def test_ring_simulated_bumps_match_closed_form() -> None:
    rng = np.random.default_rng(0)
    for w1, expected in ((2.5, 2.09), (4.0, 1.57), (6.0, 1.30)):
        rates, fit = ring.stationary_bump(ring.RingParams(w1=w1), 100.0, rng)
        assert fit["bump"]
        assert fit["half_width_rad"] == pytest.approx(expected, abs=0.02)
        assert fit["peak"] == pytest.approx(ring.peak_closed_form(-2.0, w1, 1.0), rel=0.01)
        assert np.count_nonzero(rates > 1e-6 * rates.max()) < rates.size  # silent flanks
    _, fit = ring.stationary_bump(ring.RingParams(w1=1.5), 100.0, rng)
    assert not fit["bump"] and fit["modulation"] < 1e-6
    with pytest.raises(FloatingPointError, match="runs away"):
        ring.stationary_bump(ring.RingParams(w1=10.0), 100.0, rng)


def test_ring_bump_follows_moving_input() -> None:
    p = ring.RingParams(w0=-2.0, w1=4.0, h0=2.0, h1=1.0)
    lags = []
    for speed in (0.05, 0.1):
        res = ring.moving_bump(p, 80.0, speed, np.random.default_rng(1), settle=40.0)
        assert res["lag_sd_rad"] < 0.01  # a constant lag: the bump tracks the input
        lags.append(res["mean_lag_rad"])
    assert lags[0] == pytest.approx(0.12, abs=0.01)  # reference lag at 0.05 rad/τ
    assert lags[1] > lags[0]
    a = ring.moving_bump(p, 10.0, 0.05, np.random.default_rng(7), settle=5.0)
    b = ring.moving_bump(p, 10.0, 0.05, np.random.default_rng(7), settle=5.0)
    assert np.array_equal(a["rates"], b["rates"])


def test_ring_rejects_bad_params() -> None:
    with pytest.raises(ValueError, match="dt"):
        ring.RingParams(dt=1.0)
    with pytest.raises(ValueError, match="r0"):
        ring.simulate(ring.RingParams(), 1.0, np.zeros(5))


# ---------------------------------------------------------------- stages


def test_stages_write_contract_metrics_and_figures(tmp_path) -> None:
    from rnnlab.plots import toys as plots

    p = study_params()
    d = tmp_path / "toys"
    stage.lif_stage(p["lif"], d / "lif/metrics.json", d / "lif/fi.csv", d / "lif/traces.npz")
    stage.two_unit_stage(p["two_unit"], d / "two_unit/metrics.json", d / "two_unit/arrays.npz")
    stage.rubin_stage(
        p["rubin"], d / "rubin/metrics.json", d / "rubin/conditions.csv", d / "rubin/traces.npz"
    )
    stage.ring_stage(
        p["ring"], d / "ring/metrics.json", d / "ring/bumps.csv", d / "ring/arrays.npz"
    )
    models = ("lif", "two_unit", "rubin", "ring")
    stage.merge_metrics_stage({m: d / m / "metrics.json" for m in models}, d / "metrics.json")
    m = read_json(d / "metrics.json")
    for key, expected in (("2.5", 2.09), ("4", 1.57), ("6", 1.30)):
        assert m["ring"]["half_width_rad"][key] == pytest.approx(expected, abs=0.02)
    assert m["ring"]["no_bump_below_w1_2"] is True
    assert m["rubin"]["period_s"] == pytest.approx(2.52, rel=0.03)
    assert m["rubin"]["phases"]["three_phase"] is True
    assert m["lif"]["fI_max_rel_error"] < 1e-6
    assert m["two_unit"]["tau_max_rel_error"] < 1e-4
    if "no_d2_d3" in m["rubin"]["conditions"]:
        assert m["rubin"]["drive_removal"]["no_d2_d3_aug_e_silent"] is True

    fig = dict(p["figures"], gif_frames=3)
    f = tmp_path / "figures"
    plots.fig_ring_stage(
        fig,
        d / "ring/metrics.json",
        d / "ring/bumps.csv",
        d / "ring/arrays.npz",
        f / "ring.png",
        f / "ring.gif",
    )
    with Image.open(f / "ring.gif") as gif:
        assert gif.n_frames == 3
    with Image.open(f / "ring.png") as png:
        assert min(png.size) > 100


def test_merge_requires_contract_keys(tmp_path) -> None:
    from rnnlab.io import write_json

    for name in ("lif", "ring"):
        write_json(tmp_path / f"{name}.json", {"x": 1})
    with pytest.raises(KeyError, match="contract keys missing"):
        stage.merge_metrics_stage(
            {n: tmp_path / f"{n}.json" for n in ("lif", "ring")}, tmp_path / "m.json"
        )
