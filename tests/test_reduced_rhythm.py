"""Reduced Tap-E / Tap-I / Int-I model (rhythm.md §6) against the acceptance checks of §15(f).

Published values are read from the original figure by eye, so the acceptance tolerances are
those of a by-eye reading: band edges ±0.02 around 0.19 and 1.57, periods ±5 ms around
85–90 ms (I_cc = 0.5) and 70 ms (I_cc = 1.0). Measured with the published table:
band 0.18994 – 1.58120, 83.57 ms at 0.5 and 71.11 ms at 1.0 (within tolerance; 83.6 ms is
slightly below the by-eye 85–90 ms range). Numerics are checked separately and tightly.
CPU only; the whole file runs in a few seconds.
"""

from __future__ import annotations

import ast
import csv
import json
from pathlib import Path

import numpy as np
import pytest
from scipy.integrate import solve_ivp
from scipy.optimize import root

import rnnlab.plots.reduced_rhythm as fig_mod
from rnnlab.circuits import reduced_rhythm as rr
from rnnlab.plots.reduced_rhythm import fig_reduced_model_stage

BAND_LOW, BAND_HIGH, EDGE_TOL = 0.19, 1.57, 0.02
CRIT = rr.OscillationCriteria()

SMALL_PARAMS = {
    "dt_s": 0.001,
    "initial_state": [0.075, 0.075, -0.01],
    "seed": 0,
    "oscillation": {
        "transient_s": 1.0,
        "prominence": 1.0e-4,
        "min_peaks": 4,
        "max_cv": 0.05,
        "min_amplitude": 1.0e-3,
        "min_amplitude_ratio": 0.95,
    },
    "fixed_points": {
        "n_starts": 8,
        "box": 0.5,
        "relax_s": 0.1,
        "dedup_tol": 1.0e-6,
        "residual_tol": 1.0e-12,
    },
    "bifurcation": {"i_min": -2.0, "i_max": 2.0, "n": 81, "duration_s": 2.5},
    "period_sweep": {"i_min": 0.2, "i_max": 1.0, "n": 21, "duration_s": 3.0},
    "edges": {
        "tol": 1.0e-7,
        "divergence_offsets": [1.0e-3, 3.0e-3, 1.0e-2],
        "divergence_duration_s": 5.0,
    },
    "timecourse": {"cues": [-1.0, 0.5, 1.8], "duration_s": 0.5},
    "cycles": {"cues": [0.3, 0.8, 1.2]},
}


@pytest.fixture(scope="module")
def band() -> rr.Band:
    grid = np.linspace(-2.0, 2.0, 41)
    rng = np.random.default_rng(0)
    settings = rr.FixedPointSettings(n_starts=8)  # continuation guesses carry the branches
    sweep = rr.sweep_fixed_points(grid, rng, settings)
    return rr.locate_band(sweep, rng, settings, tol=1e-9)


@pytest.fixture(scope="module")
def stage(tmp_path_factory) -> tuple[dict, Path]:
    out = tmp_path_factory.mktemp("reduced")
    metrics = rr.reduced_model_stage(
        SMALL_PARAMS, str(out / "metrics.json"), str(out / "curve.csv"), str(out / "arrays.npz")
    )
    return metrics, out


# ---------------------------------------------------------------- model and numerics


def test_published_table_is_read_only() -> None:
    p = rr.PUBLISHED
    assert p.w.shape == (3, 3) and p.w[2, 1] == -4.0 and p.tau_s[2] == 0.05
    with pytest.raises(ValueError):
        p.w[0, 0] = 1.0


def test_rates_overflow_safe() -> None:
    v = np.array([[10.0, 10.0, 10.0], [-10.0, -10.0, -10.0]])
    with np.errstate(over="raise"):
        f = rr.rates(v)
    p = rr.PUBLISHED
    np.testing.assert_allclose(f[0], p.c * (p.a * 10.0 - p.b), rtol=1e-12)  # linear branch
    assert np.all(np.isfinite(f)) and np.all((f[1] >= 0) & (f[1] < 1e-100))


def test_jacobian_matches_finite_differences() -> None:
    rng = np.random.default_rng(3)
    for v in rng.uniform(-0.1, 0.1, size=(6, 3)):
        h = 1e-7
        fd = np.stack(
            [
                (rr.vector_field(v + h * e, 0.5) - rr.vector_field(v - h * e, 0.5)) / (2 * h)
                for e in np.eye(3)
            ],
            axis=1,
        )
        np.testing.assert_allclose(rr.jacobian(v), fd, rtol=1e-6, atol=1e-4)


def test_rk4_matches_solve_ivp_with_fourth_order_convergence() -> None:
    cues = np.array([-1.0, 0.5, 1.8])
    errors = {}
    for dt in (1e-3, 5e-4):
        t, states = rr.integrate_rk4(cues, 0.5, dt)
        err = 0.0
        for j, cue in enumerate(cues):
            ref = solve_ivp(
                lambda _t, v, c=cue: rr.vector_field(v, c),
                (0.0, 0.5),
                rr.DEFAULT_INITIAL_STATE,
                method="DOP853",
                rtol=1e-11,
                atol=1e-13,
                t_eval=t,
            )
            err = max(err, float(np.abs(ref.y.T - states[:, j]).max()))
        errors[dt] = err
    assert errors[1e-3] < 1e-4  # states are O(0.1)
    assert np.log2(errors[1e-3] / errors[5e-4]) > 3.5  # RK4: order 4


def test_period_unbiased_against_solve_ivp() -> None:
    """The 1-ms RK4 period equals a tight adaptive solve's period to < 0.01 ms."""
    sweep, _, _ = rr.sweep_periods([0.5], 2.5, CRIT)
    ref = solve_ivp(
        lambda _t, v: rr.vector_field(v, 0.5),
        (0.0, 2.5),
        rr.DEFAULT_INITIAL_STATE,
        method="DOP853",
        rtol=1e-11,
        atol=1e-13,
        dense_output=True,
    )
    z = ref.sol(np.arange(1.0, 2.5, 1e-4))[2]
    ref_period = rr.measure_period(z, 1e-4, CRIT).period_s
    assert abs(sweep.period_s[0] - ref_period) < 1e-5


def test_measure_period_on_synthetic_traces() -> None:
    t = np.arange(0.0, 2.0, 1e-3)
    period = 0.0833333
    sine = rr.measure_period(0.05 * np.sin(2 * np.pi * t / period), 1e-3, CRIT)
    assert sine.oscillating and abs(sine.period_s - period) < 1e-6  # sub-sample refinement
    damped = rr.measure_period(0.05 * np.exp(-2.0 * t) * np.sin(2 * np.pi * t / period), 1e-3, CRIT)
    assert not damped.oscillating and np.isnan(damped.period_s)
    assert not rr.measure_period(np.exp(-t), 1e-3, CRIT).oscillating


def test_classify_eigenvalues() -> None:
    assert rr.classify_eigenvalues(np.array([-1.0, -2.0, -3.0])) == "stable node"
    assert rr.classify_eigenvalues(np.array([-1 + 2j, -1 - 2j, -3.0])) == "stable focus"
    assert rr.classify_eigenvalues(np.array([1 + 2j, 1 - 2j, -3.0])) == "unstable focus"
    assert rr.classify_eigenvalues(np.array([1.0, -2.0, -3.0])) == "saddle"
    assert rr.classify_eigenvalues(np.array([1.0, 2.0, 3.0])) == "unstable node"


# ---------------------------------------------------------------- acceptance (§15 f)


def test_band_edges(band: rr.Band) -> None:
    assert band.low is not None and band.high is not None
    assert abs(band.low.value - BAND_LOW) <= EDGE_TOL
    assert abs(band.high.value - BAND_HIGH) <= EDGE_TOL
    # located by bisection, not read off the 0.1-spaced grid
    assert abs(band.low.unstable_side - band.low.stable_side) <= 1e-9
    assert abs(band.high.unstable_side - band.high.stable_side) <= 1e-9


def test_lower_edge_is_a_fold_upper_edge_is_a_hopf(band: rr.Band) -> None:
    """Lower: node and saddle merge (det J = 0, solved independently). Upper: complex pair."""
    fold = rr.refine_fold(band.low)
    assert abs(fold - band.low.value) < 1e-8

    def aug(x: np.ndarray) -> np.ndarray:  # equilibrium with a zero eigenvalue, in the test
        lam = np.linalg.eigvals(rr.jacobian(x[:3]))
        return np.r_[rr.vector_field(x[:3], x[3]) * 0.01, lam.real[np.argmin(np.abs(lam))]]

    node = next(fp for fp in band.low.fps_stable_side if fp.stable)
    sol = root(aug, np.r_[node.state, band.low.value], method="lm", options={"xtol": 1e-15})
    assert abs(sol.x[3] - band.low.value) < 1e-8
    assert len(band.low.fps_stable_side) == 3 and len(band.low.fps_unstable_side) == 1
    lam = band.hopf_eigenvalues
    assert abs(lam[0].real) < 1e-3 and abs(lam[0].imag) > 100.0  # Re ≈ 0, Im ≈ 120 rad/s
    assert 15.0 < band.hopf_frequency_hz < 25.0


def test_fixed_point_stable_outside_band_only() -> None:
    rng = np.random.default_rng(1)
    for cue in (-1.0, 0.0, 0.15, 1.65, 1.8, 2.0):
        assert any(fp.stable for fp in rr.fixed_points(cue, rng)), cue
    for cue in (0.25, 0.5, 1.0, 1.5):
        fps = rr.fixed_points(cue, rng)
        assert rr.original_rule_oscillatory(fps), cue  # exactly one, unstable
        assert fps[0].kind == "unstable focus"


def test_periods_at_contract_cues() -> None:
    sweep, _, _ = rr.sweep_periods([0.5, 1.0], 4.0, CRIT)
    p05, p10 = sweep.period_s * 1e3
    assert 85.0 - 5.0 <= p05 <= 90.0 + 5.0, p05  # measured 83.57 ms
    assert abs(p10 - 70.0) <= 5.0, p10  # measured 71.11 ms
    assert p05 > p10  # period falls with the cue


@pytest.mark.parametrize(("cue", "kind"), [(-1.0, "stable node"), (1.8, "stable focus")])
def test_damped_convergence(cue: float, kind: str) -> None:
    _, states = rr.integrate_rk4(cue, 3.0)
    sweep, _, _ = rr.sweep_periods([cue], 3.0, CRIT)
    assert not sweep.oscillating[0]
    stable = [fp for fp in rr.fixed_points(cue, np.random.default_rng(2)) if fp.stable]
    end = states[-1, 0]
    nearest = min(stable, key=lambda fp: np.abs(fp.state - end).max())
    assert np.abs(nearest.state - end).max() < 1e-6
    assert nearest.kind == kind


def test_period_diverges_at_lower_edge(band: rr.Band) -> None:
    offsets = np.array([1e-4, 1e-3, 1e-2])
    sweep, _, _ = rr.sweep_periods(band.low.value + offsets, 12.0, CRIT)
    assert sweep.oscillating.all()
    assert np.all(np.diff(sweep.period_s) < 0) and sweep.period_s[0] > 1.0  # > 1 s at +1e-4
    exponent = rr.fit_divergence_exponent(offsets, sweep.period_s)["exponent"]
    assert -0.65 < exponent < -0.35  # SNIC: -1/2


def test_circuits_layering() -> None:
    tree = ast.parse(Path(rr.__file__).read_text())
    mods = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    mods += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    banned = ("rnnlab.train", "rnnlab.analysis", "rnnlab.plots", "torch", "matplotlib")
    assert not [m for m in mods if m.startswith(banned)]


# ---------------------------------------------------------------- stage and figure


def test_stage_outputs(stage: tuple[dict, Path]) -> None:
    metrics, out = stage
    saved = json.loads((out / "metrics.json").read_text())
    for key in ("band_low", "band_high", "period_ms_at_0.5", "period_ms_at_1.0"):
        assert isinstance(saved[key], float) and saved[key] == pytest.approx(metrics[key])
    assert abs(saved["band_low"] - BAND_LOW) <= EDGE_TOL
    assert abs(saved["band_high"] - BAND_HIGH) <= EDGE_TOL
    assert 80.0 <= saved["period_ms_at_0.5"] <= 95.0
    assert abs(saved["period_ms_at_1.0"] - 70.0) <= 5.0
    assert saved["n_fixed_points_below_band"] == 3 and saved["n_fixed_points_in_band"] == 1
    with open(out / "curve.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == rr.CURVE_COLUMNS and len(rows) == SMALL_PARAMS["period_sweep"]["n"]
    with np.load(out / "arrays.npz", allow_pickle=False) as z:
        assert z["timecourse_states"].shape == (501, 3, 3)
        assert list(z["timecourse_oscillating"]) == [False, True, False]
        assert z["cycle_states"].shape[0] == 3 and np.isfinite(z["cycle_period_ms"]).all()
        assert z["fp_state"].shape == (z["fp_i_cc"].size, 3)
        assert float(z["band_low"]) == saved["band_low"]


def _capture(monkeypatch) -> list:
    """Replace the module's ``save`` so the test can inspect each figure's artists."""
    figs: list = []

    def keep(fig, path):
        figs.append(fig)
        fig.savefig(path, dpi=40)

    monkeypatch.setattr(fig_mod, "save", keep)
    return figs


def test_figure_draws_only_file_contents(stage, tmp_path, monkeypatch) -> None:
    _, out = stage
    figs = _capture(monkeypatch)
    png = tmp_path / "fig3.png"
    fig_reduced_model_stage(
        {"dpi": 40}, out / "metrics.json", out / "curve.csv", out / "arrays.npz", str(png)
    )
    assert png.stat().st_size > 0
    axes = figs[0].axes
    z = np.load(out / "arrays.npz", allow_pickle=False)
    # time courses: Tap-E line of the first demo cue is the saved trace, in ms
    line = next(ln for ln in axes[0].lines if ln.get_label() == "Tap-E")
    np.testing.assert_array_equal(line.get_xdata(), z["timecourse_t_s"] * 1e3)
    np.testing.assert_array_equal(line.get_ydata(), z["timecourse_states"][:, 0, 0])
    # period curve: the CSV's oscillating rows
    with open(out / "curve.csv") as fh:
        rows = [r for r in csv.DictReader(fh) if r["oscillating"] == "True"]
    curve = next(ln for ln in axes[3].lines if ln.get_label().startswith("period of z"))
    np.testing.assert_allclose(curve.get_ydata(), [float(r["period_ms"]) for r in rows])

    # tamper with the files: the figure must follow them, not recompute
    metrics = json.loads((out / "metrics.json").read_text())
    metrics["band_high"] = 1.2345
    (tmp_path / "metrics.json").write_text(json.dumps(metrics))
    arrays = {k: z[k] for k in z.files}
    arrays["bif_z_max"] = np.where(arrays["bif_oscillating"], 0.5, np.nan)
    np.savez(tmp_path / "arrays.npz", **arrays)
    fig_reduced_model_stage(
        {"dpi": 40},
        tmp_path / "metrics.json",
        out / "curve.csv",
        tmp_path / "arrays.npz",
        str(tmp_path / "fig3b.png"),
    )
    bif_ax = figs[1].axes[4]
    hopf = next(ln for ln in bif_ax.lines if ln.get_label().startswith("Hopf"))
    assert hopf.get_xdata()[0] == 1.2345
    cyc_max = next(ln for ln in bif_ax.lines if ln.get_label().startswith("limit cycle"))
    assert np.all(cyc_max.get_ydata() == 0.5)
