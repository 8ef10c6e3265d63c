"""ZRNN flow-field stage (rhythm.md §7): regimes, fixed points, PC1–PC2 fields, figure data.

The main fixture is a 2-unit tanh CTRNN whose dynamics are known in closed form:
x' = (−x + W tanh x + b + w_cue·cue) / τ with W = [[2, −1], [1, 2]], b = (0.2, 0), and the
cue driving unit 1 only (gain 3). At cue 0 the single fixed point near the origin is an
unstable focus (eigenvalues ≈ (1 ± i)/τ) surrounded by a limit cycle; at cue ±3 unit 1
saturates, the Jacobian becomes triangular and the single fixed point is a stable node.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.collections import PathCollection, QuadMesh
from matplotlib.colors import LogNorm, to_rgba
from scipy.optimize import fsolve

from rnnlab.analysis import rhythm_flow as rf
from rnnlab.analysis.flow_fields import StatePCA, plane_states
from rnnlab.io import read_json, save_checkpoint
from rnnlab.models.ctrnn import CTRNN, CTRNNConfig
from rnnlab.models.zrnn import build_zrnn
from rnnlab.plots import rhythm_flow as pf
from rnnlab.tasks.rhythm import RhythmTaskConfig

TAU, DT = 0.01, 0.001
W = np.array([[2.0, -1.0], [1.0, 2.0]])
B = np.array([0.2, 0.0])
W_CUE = np.array([3.0, 0.0])
CUES = [-3.0, 0.0, 3.0]
TASK = RhythmTaskConfig(periods_s=(0.5, 0.25), cue_scale=0.1)


def params(cues: list[float], **overrides) -> dict:
    base = {
        "device": "cpu",
        "seed": 3,
        "cues": cues,
        "duration_s": 2.0,
        "trajectory_points": 200,
        "pca": {"standardize": False, "discard_s": 0.0, "stride_steps": 2, "n_components": 5},
        "fixed_points": {
            "n_starts": 24,
            "stride_steps": 10,
            "jitter": 0.1,
            "adam_steps": 200,
            "lr": 0.01,
            "polish_steps": 40,
            "slow_steps": 5,
            "q_tol": 1e-12,
            "slow_tol": 1e-5,
            "dedup_tol": 1e-4,
            "eig_tol": 1e-6,
            "max_candidates": 32,
        },
        "regime": {
            "tail_fraction": 0.5,
            "settle_rtol": 1e-3,
            "sustain_ratio": 0.9,
            "min_crossings": 4,
        },
        "grid": {"n_grid": 9, "half_width": 0.0, "margin": 1.2},
    }
    base.update(overrides)
    return base


def oscillator_checkpoint(path) -> None:
    cfg = CTRNNConfig(
        n_input=2, n_hidden=2, n_output=1, activation="tanh", autapses=True, dt=DT, tau=TAU
    )
    model = CTRNN(cfg)
    with torch.no_grad():
        model.w_rec.copy_(torch.as_tensor(W))
        model.w_in.copy_(torch.as_tensor(np.stack([np.zeros(2), W_CUE], axis=1)))
        model.b_rec.copy_(torch.as_tensor(B))
    payload = {
        "model_config": cfg.to_dict(),
        "state_dict": model.state_dict(),
        "task_config": TASK.to_dict(),
        "train": {"best_step": 0},
    }
    save_checkpoint(path, payload)


def bracket(x: np.ndarray, cue: float) -> np.ndarray:
    """τ dx/dt of the oscillator (rows or one state)."""
    return -x + np.tanh(x) @ W.T + B + W_CUE * cue


def analytic_fixed_point(cue: float) -> tuple[np.ndarray, np.ndarray]:
    """The fixed point (by fsolve) and its Jacobian eigenvalues in 1/s, leading first."""
    guess = np.array([3.3 * cue, 3.0 * np.sign(cue)])  # unit 2 saturates with unit 1
    x = fsolve(lambda z: bracket(z, cue), guess, xtol=1e-13)
    np.testing.assert_allclose(bracket(x, cue), 0.0, atol=1e-12)
    jac = (-np.eye(2) + W * (1.0 - np.tanh(x) ** 2)[None, :]) / TAU
    eig = np.linalg.eigvals(jac)
    return x, eig[np.argsort(-eig.real, kind="stable")]


def euler_trajectory(cue: float, n_steps: int) -> np.ndarray:
    """The model's own Euler update from x = 0, in float64."""
    x, out, alpha = np.zeros(2), [np.zeros(2)], DT / TAU
    for _ in range(n_steps):
        x = x + alpha * bracket(x, cue)
        out.append(x)
    return np.array(out)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("flow")
    paths = {k: str(root / name) for k, name in [
        ("ckpt", "osc.pt"), ("metrics", "m.json"), ("csv", "regimes.csv"), ("npz", "flow.npz")
    ]}  # fmt: skip
    oscillator_checkpoint(paths["ckpt"])
    returned = rf.zrnn_flow_stage(
        params(CUES), paths["ckpt"], paths["metrics"], paths["csv"], paths["npz"], threads=1
    )
    with np.load(paths["npz"], allow_pickle=False) as z:
        data = {k: z[k] for k in z.files}
    return {
        "paths": paths,
        "returned": returned,
        "metrics": read_json(paths["metrics"]),
        "rows": pd.read_csv(paths["csv"]),
        "data": data,
    }


def test_regimes_fixed_points_and_eigenvalues_match_the_analysis(run) -> None:
    m, rows = run["metrics"], run["rows"]
    assert list(rows.columns) == rf.REGIME_COLUMNS and len(rows) == len(CUES)
    np.testing.assert_array_equal(rows["cue"], CUES)
    assert list(rows["regime"]) == ["stable node", "limit cycle", "stable node"]
    assert list(rows["nearest_class"]) == ["stable node", "unstable focus", "stable node"]
    assert list(rows["n_fixed_points"]) == [1, 1, 1]
    assert list(rows["n_unstable"]) == [0, 2, 0]
    assert rows["fp_consistent"].all()
    assert math.isnan(rows["period_s"][0]) and math.isnan(rows["period_s"][1])
    assert rows["period_s"][2] == pytest.approx(0.1 / 3.0)
    for k, cue in enumerate(CUES):
        _, eig = analytic_fixed_point(cue)
        assert rows["lead_eig_real_per_s"][k] == pytest.approx(eig[0].real, rel=1e-6)
        assert rows["lead_eig_imag_per_s"][k] == pytest.approx(abs(eig[0].imag), rel=1e-6, abs=1e-6)
    # (1 ± i)/τ at the origin shifted by b: an unstable focus near 100 ± 100 i per second
    assert 90 < rows["lead_eig_real_per_s"][1] < 100 < rows["lead_eig_imag_per_s"][1] + 2
    # the stable cues have settled onto their node; the cycle keeps moving
    assert (rows["nearest_distance"][[0, 2]] < 1e-5).all()
    assert (rows["end_speed_per_s"][[0, 2]] < 1e-3).all() and rows["end_speed_per_s"][1] > 10

    for key in ("n_cues", "cues", "regimes", "oscillating_cue_min", "oscillating_cue_max",
                "oscillating_contiguous", "trained_cue_min", "trained_cue_max",
                "n_fp_consistent", "pca", "per_cue", "seconds"):  # fmt: skip
        assert key in m
    assert m == {**run["returned"], "seconds": m["seconds"]}
    assert set(m["per_cue"]) == {"-3.0", "0.0", "3.0"}
    assert m["oscillating_cue_min"] == m["oscillating_cue_max"] == 0.0
    assert m["oscillating_contiguous"] and m["n_fp_consistent"] == 3
    assert (m["trained_cue_min"], m["trained_cue_max"]) == pytest.approx((0.2, 0.4))
    assert m["pca"]["n_components"] == 2  # capped at N
    assert sum(m["pca"]["explained_variance_ratio"]) == pytest.approx(1.0)
    for k, key in enumerate(["-3.0", "0.0", "3.0"]):
        cue_m = m["per_cue"][key]
        assert cue_m["regime"] == rows["regime"][k] == m["regimes"][key]
        assert cue_m["classes"] == [rows["nearest_class"][k]]
        assert cue_m["max_real_eigenvalue_per_s"][0] == pytest.approx(
            rows["lead_eig_real_per_s"][k]
        )
        # the summary's eigenvalue is in 1/τ; the per-second one is it divided by τ
        assert cue_m["max_real_eigenvalue"][0] / TAU == pytest.approx(
            cue_m["max_real_eigenvalue_per_s"][0], rel=1e-6
        )


def test_npz_holds_the_exact_field_trajectories_and_fixed_points(run) -> None:
    d, rows = run["data"], run["rows"]
    assert all(a.dtype.kind != "O" for a in d.values())
    n_c, g = len(CUES), 9
    assert d["pc1"].shape == d["pc2"].shape == (n_c, g)
    assert d["velocity"].shape == (n_c, g, g, 2) and d["velocity"].dtype == np.float32
    assert d["speed"].shape == (n_c, g, g) and d["speed"].dtype == np.float32
    assert d["trajectory"].dtype == np.float32 and d["trajectory"].shape[0] == n_c
    n_t = d["trajectory"].shape[1]
    assert n_t == 200 and d["trajectory_t_s"].shape == (n_t,)
    assert d["trajectory_t_s"][0] == 0.0 and d["trajectory_t_s"][-1] == pytest.approx(2.0)
    assert [str(d["regime_names"][c]) for c in d["regime_code"]] == list(rows["regime"])
    pca = StatePCA(
        d["pca_mean"], d["pca_scale"], d["pca_components"],
        d["pca_explained_variance"], d["pca_explained_variance_ratio"],
    )  # fmt: skip
    comps = d["pca_components"][:2]
    for i, cue in enumerate(CUES):
        # grid centred on the end state's projection, the field is the analytic one in 1/s
        np.testing.assert_allclose(d["center"][i], pca.transform(d["end_state"][i])[:2])
        assert (d["pc1"][i, 0] + d["pc1"][i, -1]) / 2 == pytest.approx(d["center"][i, 0])
        assert (d["pc2"][i, 0] + d["pc2"][i, -1]) / 2 == pytest.approx(d["center"][i, 1])
        grid = np.stack(np.meshgrid(d["pc1"][i], d["pc2"][i], indexing="xy"), axis=-1)
        states = plane_states(pca, d["end_state"][i], grid.reshape(-1, 2))
        np.testing.assert_allclose(pca.transform(states)[:, :2], grid.reshape(-1, 2), atol=1e-9)
        f = bracket(states, cue) / TAU
        np.testing.assert_allclose(
            d["velocity"][i].reshape(-1, 2), f @ comps.T, rtol=1e-5, atol=1e-3
        )
        np.testing.assert_allclose(
            d["speed"][i].ravel(), np.linalg.norm(f, axis=-1), rtol=1e-5, atol=1e-3
        )
        # trajectory: the model's Euler run from x = 0, projected, at the saved times
        ref = euler_trajectory(cue, 2000)
        idx = np.round(d["trajectory_t_s"] / DT).astype(int)
        np.testing.assert_allclose(d["trajectory"][i], pca.transform(ref[idx])[:, :2], atol=2e-3)
        # the one fixed point per cue, projected with the same PCA
        sel = d["fp_cue_index"] == i
        assert sel.sum() == 1
        x_star, eig = analytic_fixed_point(cue)
        np.testing.assert_allclose(d["fp_pc"][sel][0], pca.transform(x_star)[:2], atol=1e-8)
        assert str(d["class_names"][d["fp_class_code"][sel][0]]) == rows["nearest_class"][i]
        assert d["fp_lead_real_per_s"][sel][0] == pytest.approx(eig[0].real, rel=1e-6)
        assert int(d["fp_n_unstable"][sel][0]) == rows["n_unstable"][i]
    assert d["slow_pc"].shape == (0, 2) and d["slow_cue_index"].shape == (0,)


def test_figure_draws_the_saved_numbers(run, tmp_path) -> None:
    paths, d, rows = run["paths"], run["data"], run["rows"]
    fig = pf.draw_flow(pf.load_flow_data(paths["npz"]), pd.read_csv(paths["csv"]), run["metrics"])
    panels = [ax for ax in fig.axes if ax.get_title().startswith("cue = ")]
    assert len(panels) == len(CUES)
    ratio = d["pca_explained_variance_ratio"]
    for i, ax in enumerate(panels):
        assert ax.get_title() == f"cue = {CUES[i]:g} : {rows['regime'][i]}"
        assert ax.get_xlabel() == f"PC1 ({100 * ratio[0]:.1f} % var)"
        assert ax.get_ylabel() == f"PC2 ({100 * ratio[1]:.1f} % var)"
        (mesh,) = [c for c in ax.collections if isinstance(c, QuadMesh)]
        np.testing.assert_array_equal(np.asarray(mesh.get_array()).ravel(), d["speed"][i].ravel())
        assert isinstance(mesh.norm, LogNorm) and mesh.norm.vmax == pytest.approx(d["speed"].max())
        (line,) = [ln for ln in ax.lines if ln.get_color() == pf.TRAJECTORY_COLOUR]
        np.testing.assert_array_equal(line.get_xydata(), d["trajectory"][i])
        scatters = [c for c in ax.collections if isinstance(c, PathCollection)]
        offsets = np.concatenate([s.get_offsets() for s in scatters])
        np.testing.assert_array_equal(offsets, d["fp_pc"][d["fp_cue_index"] == i])
        (fp,) = scatters
        stable = rows["nearest_class"][i].startswith("stable")
        face = fp.get_facecolors()  # filled = stable, open (no face) = unstable
        assert (face.shape[0] == 1 and face[0][3] == 1.0) if stable else face[:, 3].sum() == 0
        np.testing.assert_allclose(fp.get_edgecolors()[0], to_rgba(pf.FP_COLOUR))
        assert ax.get_xlim() == pytest.approx((d["pc1"][i, 0], d["pc1"][i, -1]))
    legend = {t.get_text() for t in fig.legends[0].get_texts()}
    assert {"stable node", "unstable focus"} <= legend
    pf.plt.close(fig)

    png = tmp_path / "flow.png"
    pf.fig_zrnn_flow_stage({"dpi": 40}, paths["metrics"], paths["csv"], paths["npz"], str(png))
    assert png.stat().st_size > 0
    bad = tmp_path / "bad.csv"
    rows.assign(regime=np.roll(rows["regime"].to_numpy(), 1)).to_csv(bad, index=False)
    with pytest.raises(ValueError, match="disagree"):
        pf.fig_zrnn_flow_stage({"dpi": 40}, paths["metrics"], str(bad), paths["npz"], str(png))


def test_untrained_zrnn_checkpoint_is_stable_everywhere_and_seeded(tmp_path) -> None:
    """Weak recurrence (gain 0.1): one stable point per cue, eigenvalues near −1/τ."""
    model_params = {
        "n_hidden": 12, "tau_s": TAU, "e_fraction": 0.75, "sigma_rec": 0.01, "sigma_in": 0.01,
        "rec_init_gain": 0.1, "frozen_zero_init": True,
    }  # fmt: skip
    model = build_zrnn(model_params, DT, seed=5)
    save_checkpoint(
        tmp_path / "zrnn.pt",
        {
            "model_config": model.config.to_dict(),
            "state_dict": model.state_dict(),
            "task_config": TASK.to_dict(),
            "train": {"best_step": 0},
        },
    )
    p = params([-0.5, 0.5, 2.0], duration_s=0.3, trajectory_points=50)
    outs = []
    for k in range(2):
        files = [str(tmp_path / f"{name}{k}") for name in ("m.json", "r.csv", "f.npz")]
        rf.zrnn_flow_stage(p, str(tmp_path / "zrnn.pt"), *files)
        outs.append(files)
    rows = pd.read_csv(outs[0][1])
    assert len(rows) == 3 and set(rows["regime"]) <= set(rf.STABLE_CLASSES)
    assert (rows["regime"] == rows["nearest_class"]).all() and rows["fp_consistent"].all()
    assert (rows["n_fixed_points"] == 1).all() and (rows["n_unstable"] == 0).all()
    assert (rows["nearest_distance"] < 1e-4).all()
    assert ((rows["lead_eig_real_per_s"] > -130) & (rows["lead_eig_real_per_s"] < -70)).all()
    m = read_json(outs[0][0])
    assert m["oscillating_cue_min"] is None and m["oscillating_cue_max"] is None
    with np.load(outs[0][2], allow_pickle=False) as z:
        assert z["end_state"].shape == (3, 12) and z["pca_components"].shape == (5, 12)
        assert z["trajectory"].shape == (3, 50, 2)
    # seeded: a second run writes the same numbers
    pd.testing.assert_frame_equal(rows, pd.read_csv(outs[1][1]))
    with np.load(outs[0][2]) as a, np.load(outs[1][2]) as b:
        for key in a.files:
            np.testing.assert_array_equal(a[key], b[key])


def test_settings_reject_missing_unknown_and_duplicate_keys() -> None:
    good = params([0.1, 0.5])
    assert rf.FlowSettings.from_params(good).cues == (0.1, 0.5)
    with pytest.raises(KeyError, match="grid"):
        rf.FlowSettings.from_params({k: v for k, v in good.items() if k != "grid"})
    with pytest.raises(KeyError, match="n_grd"):
        rf.FlowSettings.from_params({**good, "grid": {**good["grid"], "n_grd": 3}})
    with pytest.raises(ValueError, match="discard_s"):
        rf.FlowSettings.from_params({**good, "pca": {**good["pca"], "discard_s": 2.0}})
    with pytest.raises(ValueError, match="distinct"):
        rf.FlowSettings.from_params({**good, "cues": [0.5, 0.5]})
    assert rf.cue_key(-0.5) == "-0.5" and rf.cue_key(2) == "2.0"
    assert dataclasses.is_dataclass(rf.FlowSettings)
