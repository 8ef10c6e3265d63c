"""ZRNN dynamics analysis (rhythm.md §5.2, §7): lags, order, classes, lengths, PCA, files."""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rnnlab.analysis import rhythm_dynamics as rd
from rnnlab.io import read_json
from rnnlab.tasks.taps import TapDetector

DT = 0.001


def von_mises_units(
    phases: np.ndarray, period_s: float, n_steps: int, tap0_s: float, kappa: float = 8.0
) -> np.ndarray:
    """Rates (T, N) of units peaking at ``tap0 + (k + phase) * P`` each cycle."""
    t = np.arange(n_steps) * DT
    cyc = (t[:, None] - tap0_s) / period_s - np.asarray(phases)[None, :]
    return np.exp(kappa * (np.cos(2 * np.pi * cyc) - 1.0)).astype(np.float32)


def bump_output(tap_times_s: np.ndarray, n_steps: int, width_s: float = 0.008) -> np.ndarray:
    """Output trace with a Gaussian bump at every tap."""
    t = np.arange(n_steps) * DT
    return np.exp(-0.5 * ((t[:, None] - tap_times_s[None, :]) / width_s) ** 2).sum(axis=1)


def settings(**overrides) -> rd.DynamicsSettings:
    base = dict(
        reference_period_s=0.2,
        first_tap=1,
        raster_cycles=3,
        normalisation="per_tempo",
        silence_threshold=1e-3,
        pca_components=3,
        pca_cycles=2,
        pca_stride_steps=2,
        tap_phase_threshold=0.2,
        falls_tolerance=0.1,
    )
    base.update(overrides)
    return rd.DynamicsSettings(**base)


# ------------------------------------------------------------------------- lags and order


def test_recovers_known_lags_and_sort_order():
    period, n_steps, tap0 = 0.2, 4000, 0.05
    rng = np.random.default_rng(1)
    phases = rng.permutation(np.linspace(-0.45, 0.45, 19))
    n_e = 12
    rates = von_mises_units(phases, period, n_steps, tap0)
    taps = tap0 + period * np.arange(20)
    lags = rd.unit_lags(rates, taps, DT, np.zeros(len(phases), bool))
    assert lags.iti_s == pytest.approx(period)
    assert lags.n_cycles >= 18
    np.testing.assert_allclose(lags.lag_phase, phases, atol=DT / period + 1e-9)
    np.testing.assert_allclose(lags.lag_s, phases * period, atol=DT + 1e-9)
    np.testing.assert_allclose(lags.lock_r, 1.0, atol=1e-9)
    order = rd.raster_order(lags.lag_phase, n_e)
    key = np.mod(phases, 1.0)  # cycle read from one tap to the next: lag >= 0, then lag < 0
    expected = np.concatenate(
        [np.argsort(key[:n_e], kind="stable"), n_e + np.argsort(key[n_e:], kind="stable")]
    )
    np.testing.assert_array_equal(order, expected)
    # explicitly: within E, all non-negative lags come before the negative ones, each ascending
    e_lags = phases[order[:n_e]]
    n_pos = int(np.sum(e_lags >= 0))
    assert np.all(e_lags[:n_pos] >= 0) and np.all(e_lags[n_pos:] < 0)
    assert np.all(np.diff(e_lags[:n_pos]) > 0) and np.all(np.diff(e_lags[n_pos:]) > 0)


def test_circular_median_for_a_unit_half_way_between_taps():
    """Per-cycle lags flip between +0.485 and -0.485 cycles: the unit sits at phase 0.5."""
    period, n_cycles = 0.2, 20
    taps = 0.1 + period * np.arange(n_cycles)
    t = np.arange(int((taps[-1] + 0.2) / DT)) * DT
    flips = np.where(np.arange(n_cycles) % 2 == 0, 0.485, -0.485)
    peaks = taps + flips * period
    rate = np.exp(-0.5 * ((t[:, None] - peaks[None, :]) / 0.004) ** 2).sum(axis=1)
    lags = rd.unit_lags(rate[:, None].astype(np.float32), taps, DT, np.zeros(1, bool))
    naive = np.median(flips)  # what a plain median gives
    assert abs(naive) < 0.01
    assert rd.unit_phase(lags.lag_phase)[0] == pytest.approx(0.5, abs=0.01)
    assert rd.classify_units(lags.lag_phase, 1, 0.2, np.zeros(1, bool))[0] == "inter_tap_E"


def test_silent_units_nan_lag_sorted_last_no_warnings():
    period, n_steps, tap0 = 0.2, 3000, 0.05
    phases = np.array([0.1, -0.2, 0.0, 0.3, 0.0, 0.25])
    rates = von_mises_units(phases, period, n_steps, tap0)
    rates[:, 2] = 0.0  # silent E (ReLU zero)
    rates[:, 4] = 0.7  # constant E: no modulated activity
    taps = tap0 + period * np.arange(15)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        silent = rd.silent_units(rates, 1e-3)
        normed = rd.minmax_normalise(rates, 1e-3)
        lags = rd.unit_lags(rates, taps, DT, silent)
        classes = rd.classify_units(lags.lag_phase, 5, 0.2, silent)
        order = rd.raster_order(lags.lag_phase, 5)
    np.testing.assert_array_equal(silent, [False, False, True, False, True, False])
    assert np.all(normed[:, [2, 4]] == 0.0)
    assert normed.min() == 0.0 and normed.max() == pytest.approx(1.0)
    assert (
        np.isnan(lags.lag_phase[[2, 4]]).all() and np.isfinite(lags.lag_phase[[0, 1, 3, 5]]).all()
    )
    assert list(classes[[2, 4]]) == ["silent", "silent"]
    # E group (0..4): active by lag mod 1 (0.1, 0.3, 0.8), then the silent ones; then I (5)
    np.testing.assert_array_equal(order, [0, 3, 1, 2, 4, 5])


def test_unit_classes_from_known_phases():
    lag_phase = np.array([0.05, -0.1, 0.0, 0.3, -0.45, 0.19, 0.15, -0.35, 0.21, np.nan])
    types_e = 5  # units 0-4 E, 5-9 I
    silent = np.zeros(10, bool)
    silent[9] = True
    classes = rd.classify_units(lag_phase, types_e, 0.2, silent)
    assert list(classes) == [
        "tap_E", "tap_E", "tap_E", "inter_tap_E", "inter_tap_E",
        "tap_I", "tap_I", "inter_tap_I", "inter_tap_I", "silent",
    ]  # fmt: skip
    counts = rd.class_counts(classes)
    assert counts == {
        "tap_E": 3, "tap_I": 2, "inter_tap_I": 2, "inter_tap_E": 2, "silent": 1, "unphased": 0
    }  # fmt: skip
    no_taps = rd.classify_units(np.full(3, np.nan), 2, 0.2, np.array([False, True, False]))
    assert list(no_taps) == ["unphased", "silent", "unphased"]


# ------------------------------------------------------------------------ trajectory length


def circle_cycles(radii: np.ndarray, steps_per_cycle: int, n_units: int = 6) -> np.ndarray:
    """Circles of radius r_k, one per cycle, all through the origin, embedded in N-D."""
    theta = 2 * np.pi * np.arange(steps_per_cycle) / steps_per_cycle
    pts = [np.stack([r * (np.cos(theta) - 1), r * np.sin(theta)], axis=1) for r in radii]
    xy = np.concatenate(pts + [np.zeros((1, 2))])
    basis = np.linalg.qr(np.random.default_rng(0).standard_normal((n_units, 2)))[0]
    return (xy @ basis.T + 0.5).astype(np.float32)


def test_trajectory_length_of_circles_mean_and_sd():
    steps = 200
    radii = np.array([1.0, 1.5, 2.0, 1.0, 0.5])
    traj = circle_cycles(radii, steps)
    taps = np.arange(len(radii) + 1) * steps * DT
    lengths = rd.cycle_lengths(traj, taps, DT)
    chord = steps * 2 * np.sin(np.pi / steps)  # polygon perimeter per unit radius (~2 pi)
    np.testing.assert_allclose(lengths, chord * radii, rtol=1e-5)
    assert chord == pytest.approx(2 * np.pi, rel=1e-3)
    mean, sd = rd.length_stats(lengths)
    assert mean == pytest.approx(chord * radii.mean(), rel=1e-5)
    assert sd == pytest.approx(chord * radii.std(ddof=1), rel=1e-5)


def test_trajectory_length_drops_cycles_outside_the_run():
    steps = 100
    traj = circle_cycles(np.ones(3), steps)
    taps = np.array([0, 100, 200, 300, 400, 500]) * DT  # taps 400 and 500 lie past the end
    lengths = rd.cycle_lengths(traj, taps, DT)
    assert lengths.shape == (3,) and np.all(np.isfinite(lengths))
    np.testing.assert_allclose(lengths, lengths[0], rtol=1e-5)
    assert rd.cycle_lengths(traj, np.array([0.05]), DT).size == 0
    assert np.isnan(rd.length_stats(np.empty(0))[0])


def test_falls_with_tempo_flags():
    periods = np.array([0.5, 0.333, 0.25, 0.2, 0.166, 0.143, 0.125])
    mean = np.array([325, 222, 163, 131, 108, 93, 85.0])
    sd = np.array([24.5, 12.8, 7.7, 4.9, 4.2, 3.9, 4.1])  # the paper: 7 -> 8 Hz rises 5 %
    shuffle = np.random.default_rng(3).permutation(7)
    assert rd.falls_with_tempo(periods[shuffle], mean[shuffle], 0.0)
    assert rd.falls_with_tempo(periods, sd, 0.1)
    assert not rd.falls_with_tempo(periods, sd, 0.0)
    assert not rd.falls_with_tempo(periods, mean[::-1], 0.1)  # rises with tempo
    assert not rd.falls_with_tempo(periods, np.full(7, 5.0), 0.1)  # flat
    assert not rd.falls_with_tempo(periods, np.where(np.arange(7) == 3, np.nan, mean), 0.1)
    assert not rd.falls_with_tempo(periods[:1], mean[:1], 0.1)
    # a rise inside the sampling error of the two estimates is not a violation; a larger one is
    se = np.full(7, 0.2)
    assert rd.falls_with_tempo(periods, sd, 0.0, se)
    assert not rd.falls_with_tempo(periods, sd, 0.0, np.full(7, 0.01))
    assert rd.spearman_rho(1 / periods, mean) == pytest.approx(-1.0)


# ------------------------------------------------------------------------------------ PCA


def test_pca_on_known_rank_data_matches_svd():
    rng = np.random.default_rng(4)
    n_units = 12
    mixing = np.linalg.qr(rng.standard_normal((n_units, 3)))[0].T  # orthonormal rows
    offset = rng.standard_normal(n_units)  # rank 3 around one common mean
    blocks = [
        (rng.standard_normal((n, 3)) * [3.0, 2.0, 1.0]) @ mixing + offset for n in (900, 700, 400)
    ]
    pca = rd.fit_pca((b for b in blocks), 4)
    assert pca.n_samples == 2000
    assert pca.explained_variance_ratio[:3].sum() == pytest.approx(1.0, abs=1e-9)
    assert pca.explained_variance_ratio[3] == pytest.approx(0.0, abs=1e-9)
    assert np.all(np.diff(pca.explained_variance_ratio) <= 0)
    stacked = np.concatenate(blocks)
    centred = stacked - stacked.mean(axis=0)
    s = np.linalg.svd(centred, compute_uv=False)
    np.testing.assert_allclose(pca.explained_variance_ratio[:3], (s**2 / (s**2).sum())[:3], 1e-8)
    np.testing.assert_allclose(pca.components[:3] @ pca.components[:3].T, np.eye(3), atol=1e-9)
    # the span of the first three components is the mixing span
    np.testing.assert_allclose(np.abs(np.linalg.svd(pca.components[:3] @ mixing.T)[1]), 1, 1e-8)
    proj = pca.project(stacked)
    np.testing.assert_allclose(proj[:, :3].var(axis=0, ddof=1), (s[:3] ** 2) / 1999, rtol=1e-8)


def test_reference_tempo_is_matched_with_tolerance_not_float_equality():
    periods = np.array([0.5, 0.333, 0.2])
    assert rd.reference_index(periods, 0.3333) == 1
    with pytest.raises(ValueError, match="not a trained period"):
        rd.reference_index(periods, 0.25)


# ------------------------------------------------------------------------- stage and figures

PERIODS = np.array([0.2, 0.25, 0.125])  # deliberately not sorted
N_STEPS, N_UNITS, N_E, TAP0 = 3000, 30, 24, 0.04
SILENT = np.array([3, 10, 25, 28])


def synthetic_activity(seed: int = 5) -> dict[str, np.ndarray]:
    """Rates with fixed per-unit phases at every tempo, recurrent-like noise, silent units."""
    rng = np.random.default_rng(seed)
    phases = rng.uniform(-0.5, 0.5, N_UNITS)
    rates, outputs = [], []
    for period in PERIODS:
        r = von_mises_units(phases, period, N_STEPS, TAP0)
        r = np.maximum(0.0, r + 0.01 * rng.standard_normal(r.shape)).astype(np.float32)
        r[:, SILENT] = 0.0
        rates.append(r)
        taps = TAP0 + period * np.arange(int(N_STEPS * DT / period) + 1)
        outputs.append(bump_output(taps, N_STEPS))
    return {
        "periods_s": PERIODS,
        "rates": np.stack(rates),
        "output": np.stack(outputs).astype(np.float32),
        "dt_s": np.float64(DT),
        "n_excitatory": np.int64(N_E),
        "true_phases": phases,
    }


@pytest.fixture(scope="module")
def stage_run(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("dynamics")
    act = synthetic_activity()
    paths = {
        "activity": tmp / "activity.npz",
        "metrics": tmp / "metrics.json",
        "units": tmp / "units.csv",
        "cycles": tmp / "cycles.csv",
        "figdata": tmp / "figure_data.npz",
    }
    np.savez(paths["activity"], **{k: v for k, v in act.items() if k != "true_phases"})
    rd.zrnn_dynamics_from_activity(
        dataclasses.asdict(settings()),
        dataclasses.asdict(TapDetector()),
        str(paths["activity"]),
        str(paths["metrics"]),
        str(paths["units"]),
        str(paths["cycles"]),
        str(paths["figdata"]),
    )
    paths["phases"] = act["true_phases"]
    return paths


def test_stage_metrics_and_tables(stage_run):
    metrics = read_json(stage_run["metrics"])
    units = pd.read_csv(stage_run["units"])
    cycles = pd.read_csv(stage_run["cycles"])
    assert metrics["reference_period_s"] == pytest.approx(0.2)
    assert metrics["all_tempos_oscillating"] is True
    assert metrics["n_silent"] == len(SILENT) == int(units["silent"].sum())
    assert metrics["n_silent_all_tempos"] == len(SILENT)
    assert len(metrics["pca"]["explained_variance_ratio"]) == 3
    assert metrics["unit_classes"] == {c: int((units["class"] == c).sum()) for c in rd.UNIT_CLASSES}
    assert sum(metrics["unit_classes"].values()) == N_UNITS
    # per-unit table: types, silent flags, recovered lags at the reference tempo
    assert list(units["unit"]) == list(range(N_UNITS))
    assert list(units["type"]) == ["E"] * N_E + ["I"] * (N_UNITS - N_E)
    assert set(np.flatnonzero(units["silent"])) == set(SILENT)
    assert units.loc[SILENT, "lag_s"].isna().all()
    assert (units.loc[SILENT, "class"] == "silent").all()
    active = np.setdiff1d(np.arange(N_UNITS), SILENT)
    err = rd.wrap_phase(units.loc[active, "lag_phase"].to_numpy() - stage_run["phases"][active])
    assert np.abs(err).max() < 0.02
    for period in PERIODS:
        col = f"lag_phase_{period * 1e3:g}ms"
        err = rd.wrap_phase(units.loc[active, col].to_numpy() - stage_run["phases"][active])
        assert np.abs(err).max() < 0.03, col
    expected_tap = np.abs(stage_run["phases"]) < 0.2
    cls = units.loc[active, "class"].str.startswith("tap_").to_numpy()
    borderline = np.abs(np.abs(stage_run["phases"][active]) - 0.2) < 0.02
    np.testing.assert_array_equal(cls[~borderline], expected_tap[active][~borderline])
    # per-tempo table and the falls-with-tempo booleans behind it
    np.testing.assert_allclose(cycles["period_s"], PERIODS)
    assert cycles["reference"].tolist() == [True, False, False]
    np.testing.assert_allclose(cycles["median_iti_s"], PERIODS, atol=2 * DT)
    assert metrics["length_mean_falls_with_tempo"] is True  # noise: length grows with steps
    n = cycles["n_cycles"].clip(lower=2).to_numpy(float)
    se = {
        "mean": cycles["length_sd"] / np.sqrt(n),
        "sd": cycles["length_sd"] / np.sqrt(2 * (n - 1)),
    }
    for stat in ("mean", "sd"):
        flag = rd.falls_with_tempo(cycles["period_s"], cycles[f"length_{stat}"], 0.1, se[stat])
        assert metrics[f"length_{stat}_falls_with_tempo"] is flag
        for period, row in zip(PERIODS, cycles.itertuples(), strict=True):
            assert metrics["trajectory_length"][f"{period:g}"][stat] == pytest.approx(
                getattr(row, f"length_{stat}")
            )


def test_stage_figure_data_is_bounded_and_consistent(stage_run):
    with np.load(stage_run["figdata"], allow_pickle=False) as z:
        data = {k: z[k] for k in z.files}
    units = pd.read_csv(stage_run["units"])
    cycles = pd.read_csv(stage_run["cycles"])
    metrics = read_json(stage_run["metrics"])
    # bounded: float16 where large, a few cycles only, nothing of size T x N
    assert data["raster"].dtype == np.float16
    assert data["pca_proj"].dtype == np.float16 and data["pca_taps"].dtype == np.float16
    ref_steps = 0.2 / DT
    assert data["raster"].shape[0] == N_UNITS
    assert data["raster"].shape[1] <= (settings().raster_cycles + 1) * ref_steps + 2
    longest = max(settings().pca_cycles * p / DT for p in PERIODS) / 2 + 2
    assert data["pca_proj"].shape[:2] == (3, data["pca_proj"].shape[1])
    assert data["pca_proj"].shape[1] <= longest and data["pca_proj"].shape[2] == 3
    assert all(a.size < N_STEPS for k, a in data.items() if k != "raster")  # no full series
    assert stage_run["figdata"].stat().st_size < stage_run["activity"].stat().st_size / 10
    # the numbers behind the figures match the tables
    by_rank = units.sort_values("raster_rank")
    np.testing.assert_array_equal(data["raster_order"], by_rank["unit"])
    np.testing.assert_array_equal(data["raster_silent"], by_rank["silent"])
    np.testing.assert_allclose(data["raster_lag_phase"], by_rank["lag_phase"], atol=1e-6)
    types = by_rank["type"].to_numpy()
    assert (types[:N_E] == "E").all() and (types[N_E:] == "I").all()
    assert (by_rank["silent"].to_numpy()[N_E - 2 : N_E]).all()  # silent E last among E
    assert (by_rank["silent"].to_numpy()[-2:]).all()  # silent I last among I
    assert np.all(data["raster"][by_rank["silent"].to_numpy()] == 0)
    assert np.nanmax(data["raster"].astype(np.float32)) <= 1.0
    np.testing.assert_allclose(
        np.nanmean(data["cycle_lengths"], axis=1), cycles["length_mean"], rtol=1e-5
    )
    assert (np.isfinite(data["cycle_lengths"]).sum(axis=1) == cycles["n_cycles"]).all()
    np.testing.assert_allclose(
        data["pca_explained_variance_ratio"], metrics["pca"]["explained_variance_ratio"]
    )
    taps = data["raster_taps_s"]
    assert 3 <= taps.size <= settings().raster_cycles + 1
    np.testing.assert_allclose(np.diff(taps), 0.2, atol=2 * DT)


def test_figures_run_from_saved_files(stage_run, tmp_path):
    from rnnlab.plots.rhythm_dynamics import fig_zrnn_dynamics_stage

    pngs = [tmp_path / f"{name}.png" for name in ("raster", "pca", "lengths")]
    fig_zrnn_dynamics_stage(
        {"dpi": 50},
        str(stage_run["figdata"]),
        str(stage_run["units"]),
        str(stage_run["cycles"]),
        *map(str, pngs),
    )
    for png in pngs:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 2000


def test_figure_refuses_mismatched_tables(stage_run, tmp_path):
    from rnnlab.plots.rhythm_dynamics import load_figure_data, plot_raster

    units = pd.read_csv(stage_run["units"])
    units["raster_rank"] = units["raster_rank"].to_numpy()[::-1]
    with pytest.raises(ValueError, match="disagrees"):
        plot_raster(load_figure_data(str(stage_run["figdata"])), units, str(tmp_path / "r.png"))


def test_global_normalisation_and_missing_keys():
    act = synthetic_activity(seed=6)
    res = rd.analyse_dynamics(
        act["periods_s"],
        act["rates"],
        act["output"],
        DT,
        N_E,
        settings(normalisation="global", pca_components=4),
        TapDetector(),
    )
    assert res.metrics["normalisation"] == "global"
    assert res.figure_data["pca_proj"].shape[2] == 4
    assert res.metrics["n_silent"] == len(SILENT)
    with pytest.raises(KeyError, match="raster_cycles"):
        rd.DynamicsSettings.from_params({"reference_period_s": 0.2})
    with pytest.raises(ValueError, match="normalisation"):
        rd.DynamicsSettings.from_params(dataclasses.asdict(settings()) | {"normalisation": "z"})


def test_plots_do_not_import_analysis():
    import rnnlab.plots.rhythm_dynamics as mod

    source = Path(mod.__file__).read_text()
    for forbidden in ("rnnlab.analysis", "rnnlab.tasks", "rnnlab.models", "rnnlab.train"):
        assert forbidden not in source
