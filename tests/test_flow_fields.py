"""Flow fields in the PC1–PC2 plane: consistent preprocessing, exact projections, regimes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnlab.analysis.fixed_points import (
    STABLE_FOCUS,
    STABLE_NODE,
    ctrnn_field,
    find_fixed_points,
)
from rnnlab.analysis.flow_fields import (
    FIXED_POINT,
    LIMIT_CYCLE,
    TRANSIENT,
    StatePCA,
    classify_regime,
    ctrnn_flow_field,
    ctrnn_trajectories,
    cue_input,
    fit_pca,
    flow_field,
    integrate,
    plane_states,
    regime_metrics,
    save_flow_npz,
)
from rnnlab.models.ctrnn import CTRNN, CTRNNConfig


def hopf_field(mu: float, omega: float = 2.0):
    def f(x: torch.Tensor) -> torch.Tensor:
        a, b = x[:, :1], x[:, 1:]
        r2 = a**2 + b**2
        return torch.cat([mu * a - omega * b - a * r2, omega * a + mu * b - b * r2], dim=-1)

    return f


def anisotropic_states(seed: int = 0, n: int = 400) -> np.ndarray:
    """Rank-3 states in 6-D with very different per-unit scales and a non-zero mean."""
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(n, 3)) * np.array([3.0, 1.0, 0.3])
    mix = rng.normal(size=(3, 6))
    return latent @ mix * np.array([1.0, 20.0, 0.05, 3.0, 0.5, 8.0]) + np.arange(6.0)


# a stable linear system in 6-D, x' = A (x − x*), with a known fixed point
A6 = -np.eye(6) + 0.3 * np.random.default_rng(1).normal(size=(6, 6))
X_STAR = np.array([1.0, -2.0, 0.5, 3.0, 0.0, -1.0])


def linear6(x: torch.Tensor) -> torch.Tensor:
    return (x - torch.as_tensor(X_STAR)) @ torch.as_tensor(A6).T


@pytest.mark.parametrize("standardize", [False, True])
def test_pca_fit_matches_covariance_and_round_trips(standardize: bool) -> None:
    x = anisotropic_states()
    pca = fit_pca(x, standardize=standardize)
    c = pca.components
    np.testing.assert_allclose(c @ c.T, np.eye(c.shape[0]), atol=1e-12)
    z = pca.transform(x)
    np.testing.assert_allclose(z.mean(0), 0.0, atol=1e-9)
    np.testing.assert_allclose(z.var(0, ddof=1), pca.explained_variance, rtol=1e-9, atol=1e-12)
    pre = (x - x.mean(0)) / (x.std(0) if standardize else 1.0)
    cov_eig = np.sort(np.linalg.eigvalsh(np.cov(pre.T)))[::-1]
    np.testing.assert_allclose(pca.explained_variance, cov_eig, rtol=1e-8, atol=1e-10)
    assert pca.explained_variance_ratio[:3].sum() == pytest.approx(1.0)
    # full rank: every state round-trips; 3 PCs: states in the PC span round-trip exactly
    np.testing.assert_allclose(pca.inverse_transform(z), x, atol=1e-9)
    pca3 = fit_pca(x, 3, standardize=standardize)
    np.testing.assert_allclose(pca3.inverse_transform(pca3.transform(x)), x, atol=1e-9)
    z3 = np.random.default_rng(2).normal(size=(10, 3))
    np.testing.assert_allclose(pca3.transform(pca3.inverse_transform(z3)), z3, atol=1e-10)
    with pytest.raises(ValueError):
        fit_pca(x, 7)


def test_standardised_pca_is_applied_consistently_unlike_the_original() -> None:
    """The original z-scored for the fit but projected raw states; we must not.

    Each assertion below is also run on the original's recipe and shown to fail, so the
    test discriminates.
    """
    x = anisotropic_states()
    pca = fit_pca(x, standardize=True)
    assert not np.allclose(pca.scale, 1.0)

    def buggy_transform(s: np.ndarray) -> np.ndarray:
        return s @ pca.components.T  # fitted on z-scores, applied to raw states

    for transform, consistent in ((pca.transform, True), (buggy_transform, False)):
        z = transform(x)
        ok = np.allclose(z.mean(0), 0.0, atol=1e-6) and np.allclose(
            z.var(0, ddof=1), pca.explained_variance, rtol=1e-6
        )
        assert ok is consistent

    # the fixed point lands where the projected field vanishes, and arrows are tangent to
    # projected trajectories (d/dt of the projection = projected velocity)
    traj = integrate(linear6, X_STAR + np.linspace(-1.0, 1.0, 6), dt=1e-3, n_steps=400)
    fps = find_fixed_points(linear6, traj[::100], generator=torch.Generator(), adam_steps=20)
    np.testing.assert_allclose(fps.points, [X_STAR], atol=1e-10)
    ff = flow_field(linear6, pca, X_STAR, trajectory=traj, fixed_points=fps, n_grid=5)
    np.testing.assert_allclose(ff.grid[2, 2], ff.fixed_points[0], atol=1e-12)
    np.testing.assert_allclose(ff.velocity[2, 2], 0.0, atol=1e-12)
    np.testing.assert_allclose(ff.trajectory, pca.transform(traj)[:, :2])
    dz = np.gradient(pca.transform(traj), 1e-3, axis=0)[1:-1]
    f_traj = linear6(torch.as_tensor(traj)).numpy()[1:-1]
    np.testing.assert_allclose(pca.transform_vectors(f_traj), dz, rtol=1e-4, atol=1e-5)
    assert not np.allclose(buggy_transform(f_traj), dz, rtol=1e-2, atol=1e-2)
    assert not np.allclose(buggy_transform(X_STAR)[:2], ff.fixed_points[0], atol=1e-3)

    # lifted grid points project back onto the grid, with the reference's other PCs
    lifted = plane_states(pca, X_STAR, ff.grid.reshape(-1, 2))
    back = pca.transform(lifted)
    np.testing.assert_allclose(back[:, :2], ff.grid.reshape(-1, 2), atol=1e-9)
    np.testing.assert_allclose(
        back[:, 2:], np.broadcast_to(ff.reference_pc[2:], (25, 4)), atol=1e-9
    )
    assert not np.allclose(buggy_transform(lifted)[:, :2], ff.grid.reshape(-1, 2), atol=1e-3)


def test_identity_pca_velocity_is_the_analytic_field() -> None:
    field = hopf_field(0.5)
    pca = StatePCA(np.zeros(2), np.ones(2), np.eye(2), np.ones(2), np.full(2, 0.5))
    ff = flow_field(field, pca, np.zeros(2), center=(0.1, -0.2), half_width=(1.0, 2.0), n_grid=7)
    assert ff.grid.shape == (7, 7, 2) and ff.velocity.shape == (7, 7, 2)
    np.testing.assert_allclose(ff.grid[3, 5], [ff.pc1[5], ff.pc2[3]])  # row = PC2, col = PC1
    np.testing.assert_allclose(ff.pc1[[0, -1]], [-0.9, 1.1])
    np.testing.assert_allclose(ff.pc2[[0, -1]], [-2.2, 1.8])
    expected = field(torch.as_tensor(ff.grid.reshape(-1, 2))).numpy().reshape(7, 7, 2)
    np.testing.assert_allclose(ff.velocity, expected, atol=1e-14)
    np.testing.assert_allclose(ff.speed, np.linalg.norm(expected, axis=-1), atol=1e-14)


def test_known_rotation_pca_velocity_and_speed_in_full_space() -> None:
    """3-D linear field, PCA = a known rotation: arrows are (R F)[:2], speed is ‖F‖."""
    rot, _ = np.linalg.qr(np.random.default_rng(3).normal(size=(3, 3)))
    pca = StatePCA(np.array([0.5, 0.0, -0.5]), np.ones(3), rot, np.ones(3), np.ones(3) / 3)
    a = np.array([[-1.0, -2.0, 0.0], [2.0, -1.0, 0.0], [0.0, 0.0, -0.3]])

    def field(x: torch.Tensor) -> torch.Tensor:
        return x @ torch.as_tensor(a).T

    ref = np.array([0.2, 0.4, 1.5])
    ff = flow_field(field, pca, ref, n_grid=6, half_width=1.5)
    states = plane_states(pca, ref, ff.grid.reshape(-1, 2))
    f = states @ a.T
    np.testing.assert_allclose(ff.velocity.reshape(-1, 2), (f @ rot.T)[:, :2], atol=1e-13)
    np.testing.assert_allclose(ff.speed.reshape(-1), np.linalg.norm(f, axis=-1), atol=1e-13)
    # full-rank PCA: the plane through ref is inverse_transform with ref's 3rd PC fixed
    z = np.concatenate([ff.grid.reshape(-1, 2), np.full((36, 1), pca.transform(ref)[2])], -1)
    np.testing.assert_allclose(states, pca.inverse_transform(z), atol=1e-13)


def tiny_ctrnn() -> CTRNN:
    cfg = CTRNNConfig(
        n_input=2, n_hidden=6, n_output=1, activation="tanh", rec_init="normal", rec_gain=0.8
    )
    model = CTRNN(cfg, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        model.b_rec.copy_(torch.linspace(-0.2, 0.2, 6))
    return model


def test_ctrnn_flow_field_uses_the_continuous_field(tmp_path) -> None:
    model = tiny_ctrnn()
    cues = [-0.5, 0.5, 1.5]
    trajs = ctrnn_trajectories(model, [cue_input(c) for c in cues], 300)
    assert trajs.shape == (3, 301, 6)
    seq = torch.as_tensor(cue_input(0.5), dtype=torch.float32).expand(1, 300, 2)
    _, _, states = model.eval()(seq, return_states=True)
    np.testing.assert_allclose(trajs[1, 1:], states[0].detach().numpy())
    pca = fit_pca(trajs, standardize=True)
    fps = find_fixed_points(
        ctrnn_field(model, cue_input(0.5)),
        trajs[1, -50:],
        generator=torch.Generator().manual_seed(0),
        jitter=0.05,
        adam_steps=50,
        polish_steps=30,
    )
    assert len(fps) >= 1
    ff = ctrnn_flow_field(model, cue_input(0.5), pca, trajs[1], fixed_points=fps, n_grid=9)
    # the centre node is the trajectory's end; its arrow is the projected one-step Euler
    # displacement divided by α, i.e. the continuous field, not a dt-dependent step
    ref = trajs[1, -1]
    np.testing.assert_allclose(ff.grid[4, 4], pca.transform(ref)[:2])
    x0 = torch.as_tensor(ref, dtype=torch.float32)
    _, _, step = model(seq[:, :1], x0=x0, return_states=True)
    f = (step[0, 0].detach().double().numpy() - ref) / model.alpha[0].item()
    np.testing.assert_allclose(
        ff.velocity[4, 4], pca.transform_vectors(f)[:2], rtol=1e-3, atol=1e-5
    )
    np.testing.assert_allclose(ff.fixed_points, pca.transform(fps.points)[:, :2])
    assert ff.fixed_point_classes == fps.classes

    path = tmp_path / "flow.npz"
    save_flow_npz(path, ff, pca)
    with np.load(path) as data:
        np.testing.assert_allclose(data["velocity"], ff.velocity)
        np.testing.assert_allclose(data["pca_components"], pca.components)
        assert list(data["fixed_point_classes"]) == fps.classes


def test_classify_regime_cases() -> None:
    cubic = lambda x: torch.stack([x[:, 0] - x[:, 0] ** 3, -x[:, 1]], dim=-1)  # noqa: E731
    start = torch.as_tensor([[0.5, 0.3], [-1.5, -0.3], [0.01, 0.0], [1.5, 0.1]])
    fps = find_fixed_points(cubic, start, generator=torch.Generator(), adam_steps=50)
    traj = integrate(cubic, np.array([0.5, 0.3]), dt=0.02, n_steps=1000)
    assert classify_regime(traj, fps) == STABLE_NODE
    assert classify_regime(traj) == FIXED_POINT  # settled, nothing known about the point
    hopf_traj = integrate(hopf_field(-0.1), np.array([0.5, 0.0]), dt=0.02, n_steps=500)
    hopf_fps = find_fixed_points(
        hopf_field(-0.1), hopf_traj[::100], generator=torch.Generator(), adam_steps=50
    )
    assert classify_regime(hopf_traj, hopf_fps) == STABLE_FOCUS  # still decaying: use the fps
    assert classify_regime(hopf_traj) == TRANSIENT
    drift = np.linspace(0.0, 1.0, 500)[:, None] * np.ones((1, 3))  # moving, not oscillating
    assert classify_regime(drift) == TRANSIENT
    cycle = integrate(hopf_field(1.0), np.array([0.01, 0.0]), dt=0.02, n_steps=1500)
    assert classify_regime(cycle) == LIMIT_CYCLE
    row = regime_metrics(0.5, LIMIT_CYCLE, fps)
    assert row["cue"] == 0.5 and row["regime"] == LIMIT_CYCLE and row["n_fixed_points"] == 3
