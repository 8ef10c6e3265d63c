"""Fixed-point finder on systems whose fixed points and their types are known exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.optimize import fsolve

from rnnlab.analysis.fixed_points import (
    MARGINAL,
    SADDLE,
    STABLE_FOCUS,
    STABLE_NODE,
    UNSTABLE_FOCUS,
    UNSTABLE_NODE,
    batched_jacobian,
    classify_eigenvalues,
    ctrnn_field,
    find_fixed_points,
    sample_states,
)
from rnnlab.analysis.flow_fields import LIMIT_CYCLE, classify_regime, integrate
from rnnlab.models.ctrnn import CTRNN, NUMPY_ACTIVATIONS, CTRNNConfig

FAST = {"adam_steps": 100, "polish_steps": 40}


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def box_starts(n: int, dim: int, half: float, seed: int = 0) -> torch.Tensor:
    return (torch.rand(n, dim, generator=gen(seed), dtype=torch.float64) * 2 - 1) * half


def linear_field(a: np.ndarray, c: np.ndarray):
    a_t, c_t = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(c, dtype=torch.float64)
    return lambda x: x @ a_t.T + c_t


def cubic_field(x: torch.Tensor) -> torch.Tensor:
    """x' = x − x³, y' = −y: stable nodes at (±1, 0), a saddle at the origin."""
    return torch.stack([x[:, 0] - x[:, 0] ** 3, -x[:, 1]], dim=-1)


def hopf_field(mu: float, omega: float = 2.0):
    """Hopf normal form: r' = μr − r³, θ' = ω; origin eigenvalues μ ± iω."""

    def f(x: torch.Tensor) -> torch.Tensor:
        a, b = x[:, :1], x[:, 1:]
        r2 = a**2 + b**2
        return torch.cat([mu * a - omega * b - a * r2, omega * a + mu * b - b * r2], dim=-1)

    return f


@pytest.mark.parametrize(
    ("a", "expected"),
    [
        ([[-1.0, -2.0], [2.0, -1.0]], STABLE_FOCUS),
        ([[-1.0, 0.5], [0.0, -3.0]], STABLE_NODE),
        ([[1.0, 0.0], [0.0, -2.0]], SADDLE),
        ([[2.0, 1.0], [0.0, 1.0]], UNSTABLE_NODE),
        ([[0.5, -2.0], [2.0, 0.5]], UNSTABLE_FOCUS),
    ],
)
def test_linear_system_location_and_class(a: list[list[float]], expected: str) -> None:
    a_np, c = np.array(a), np.array([0.3, -0.7])
    x_star = -np.linalg.solve(a_np, c)
    res = find_fixed_points(
        linear_field(a_np, c), box_starts(16, 2, 2.0), generator=gen(), jitter=0.1, **FAST
    )
    assert len(res) == 1
    np.testing.assert_allclose(res.points[0], x_star, atol=1e-10)
    assert res.q[0] < 1e-20
    assert res.classes == [expected]
    eig = np.linalg.eigvals(a_np)
    np.testing.assert_allclose(np.sort_complex(res.eigenvalues[0]), np.sort_complex(eig))
    assert res.slow_points.shape == (0, 2)


def test_cubic_system_three_points_by_autograd() -> None:
    res = find_fixed_points(cubic_field, box_starts(40, 2, 1.8), generator=gen(), **FAST)
    assert len(res) == 3
    order = np.argsort(res.points[:, 0])
    np.testing.assert_allclose(res.points[order], [[-1, 0], [0, 0], [1, 0]], atol=1e-10)
    assert [res.classes[i] for i in order] == [STABLE_NODE, SADDLE, STABLE_NODE]
    assert [int(res.n_unstable[i]) for i in order] == [0, 1, 0]
    # the Jacobian came from autograd: diag(1 − 3x², −1)
    np.testing.assert_allclose(res.eigenvalues[order[1]], [1.0, -1.0], atol=1e-12)
    np.testing.assert_allclose(res.eigenvalues[order[0]], [-1.0, -2.0], atol=1e-12)
    summary = res.summary()
    assert summary["class_counts"][STABLE_NODE] == 2 and summary["class_counts"][SADDLE] == 1


@pytest.mark.parametrize(("mu", "expected"), [(-0.5, STABLE_FOCUS), (0.5, UNSTABLE_FOCUS)])
def test_hopf_normal_form(mu: float, expected: str) -> None:
    field = hopf_field(mu)
    res = find_fixed_points(field, box_starts(16, 2, 1.5), generator=gen(), **FAST)
    assert len(res) == 1
    np.testing.assert_allclose(res.points[0], [0.0, 0.0], atol=1e-10)
    assert res.classes == [expected]
    np.testing.assert_allclose(np.sort_complex(res.eigenvalues[0]), [mu - 2j, mu + 2j])
    traj = integrate(field, np.array([0.3, 0.1]), dt=0.02, n_steps=1500)
    regime = classify_regime(traj, res)
    if mu < 0:
        assert regime == STABLE_FOCUS
    else:
        assert regime == LIMIT_CYCLE
        np.testing.assert_allclose(np.linalg.norm(traj[-500:], axis=-1), np.sqrt(mu), rtol=1e-4)


def test_slow_point_reported_separately() -> None:
    """x' = x² + ε, y' = −y has no fixed point; q has a local minimum ε²/2 at the origin."""
    eps = 1e-3

    def ghost(x: torch.Tensor) -> torch.Tensor:
        return torch.stack([x[:, 0] ** 2 + eps, -x[:, 1]], dim=-1)

    res = find_fixed_points(ghost, box_starts(16, 2, 0.5), generator=gen(), **FAST)
    assert len(res) == 0
    assert res.slow_points.shape == (1, 2)
    np.testing.assert_allclose(res.slow_points[0], [0.0, 0.0], atol=1e-8)
    np.testing.assert_allclose(res.slow_q[0], 0.5 * eps**2, rtol=1e-8)


def test_classify_eigenvalues_high_dimensional_conventions() -> None:
    assert classify_eigenvalues(np.array([0.2 + 1j, 0.2 - 1j, -3.0])) == (UNSTABLE_FOCUS, 2)
    assert classify_eigenvalues(np.array([0.2, -0.1 + 1j, -0.1 - 1j])) == (SADDLE, 1)
    assert classify_eigenvalues(np.array([0.2, 0.1, -1.0])) == (SADDLE, 2)
    assert classify_eigenvalues(np.array([-0.1 + 1j, -0.1 - 1j, -3.0])) == (STABLE_FOCUS, 0)
    assert classify_eigenvalues(np.array([-0.1, -1.0 + 1j, -1.0 - 1j])) == (STABLE_NODE, 0)
    assert classify_eigenvalues(np.array([0.0, -1.0])) == (MARGINAL, 0)
    assert classify_eigenvalues(np.array([3.0, 1.0 + 1j, 1.0 - 1j])) == (UNSTABLE_NODE, 3)


def small_ctrnn(activation: str, seed: int, **overrides) -> CTRNN:
    cfg = CTRNNConfig(
        n_input=2, n_hidden=8, n_output=1, activation=activation, rec_init="normal", **overrides
    )
    return CTRNN(cfg, generator=gen(seed))


def test_ctrnn_relu_all_active_fixed_point_is_a_linear_solve() -> None:
    """With every unit active, x* = (I − W)⁻¹ (W_in u + b) — uses the *effective* (Dale) W."""
    model = small_ctrnn("relu", 3, dale="reparam", rec_gain=0.3)
    with torch.no_grad():
        model.b_rec.fill_(1.0)
    u = np.array([0.0, 0.5])
    w = {k: v.detach().double().numpy() for k, v in model.effective_weights().items()}
    assert np.any(w["rec"] < 0)  # Dale's law is in play
    x_star = np.linalg.solve(np.eye(8) - w["rec"], w["in"] @ u + 1.0)
    assert np.all(x_star > 0)
    field = ctrnn_field(model, u)
    res = find_fixed_points(field, box_starts(16, 8, 2.0) + 1.0, generator=gen(), **FAST)
    assert len(res) == 1
    np.testing.assert_allclose(res.points[0], x_star, atol=1e-10)
    eig = np.linalg.eigvals(-np.eye(8) + w["rec"])
    np.testing.assert_allclose(np.sort_complex(res.eigenvalues[0]), np.sort_complex(eig))
    assert res.classes == [classify_eigenvalues(eig)[0]]
    # the model's own Euler update leaves x* in place
    x0 = torch.as_tensor(res.points[0], dtype=torch.float32)
    seq = torch.as_tensor(u, dtype=torch.float32).expand(1, 20, 2)
    _, _, states = model.eval()(seq, x0=x0, return_states=True)
    np.testing.assert_allclose(states[0, -1].detach().numpy(), x_star, atol=1e-5)


def test_ctrnn_tanh_matches_fsolve_and_euler_step_with_per_unit_tau() -> None:
    taus = list(np.linspace(0.01, 0.05, 8))
    model = small_ctrnn("tanh", 5, rec_gain=1.2, tau=taus)
    with torch.no_grad():
        model.b_rec.copy_(torch.linspace(-0.3, 0.3, 8))
    u = np.array([0.2, -0.4])
    field = ctrnn_field(model, u)
    w = {k: v.detach().double().numpy() for k, v in model.effective_weights().items()}
    b = model.b_rec.detach().double().numpy()
    f = NUMPY_ACTIVATIONS["tanh"]

    def bracket(x: np.ndarray) -> np.ndarray:
        return -x + f(x) @ w["rec"].T + w["in"] @ u + b  # rows or a single state

    # convention: F = (τ_min/τ)·bracket = (one model Euler step − x) / α_max
    x = np.random.default_rng(0).normal(size=(4, 8))
    alpha = model.alpha.double().numpy()
    np.testing.assert_allclose(
        field(torch.as_tensor(x)).numpy(), bracket(x) * alpha / alpha.max(), atol=1e-12
    )
    seq = torch.as_tensor(u, dtype=torch.float32).expand(4, 1, 2)
    _, _, step = model.eval()(seq, x0=torch.as_tensor(x, dtype=torch.float32), return_states=True)
    np.testing.assert_allclose(
        (step[:, 0].detach().double().numpy() - x) / alpha.max(),
        field(torch.as_tensor(x)).numpy(),
        atol=2e-5,
    )
    assert field.time_unit_s == pytest.approx(0.01)
    # analytic Jacobian == autograd Jacobian
    xt = torch.as_tensor(x)
    torch.testing.assert_close(field.jacobian(xt), batched_jacobian(field, xt))

    starts = sample_states(x, 24, generator=gen(1), noise_std=0.2)
    res = find_fixed_points(field, starts, generator=gen(), **FAST)
    assert len(res) >= 1
    for p in res.points:
        np.testing.assert_allclose(fsolve(bracket, p + 0.01, xtol=1e-13), p, atol=1e-9)
        np.testing.assert_allclose(bracket(p), 0.0, atol=1e-10)
    for p, e in zip(res.points, res.eigenvalues, strict=True):
        d = f(p + 1e-7) - f(p - 1e-7)
        jac = (alpha / alpha.max())[:, None] * (-np.eye(8) + w["rec"] * (d / 2e-7)[None, :])
        np.testing.assert_allclose(np.sort_complex(e), np.sort_complex(np.linalg.eigvals(jac)))


def test_seeded_and_robust_to_non_finite_starts() -> None:
    starts = box_starts(12, 2, 1.8).numpy()
    starts[0] = np.nan
    runs = [
        find_fixed_points(cubic_field, starts, generator=gen(7), jitter=0.05, **FAST)
        for _ in range(2)
    ]
    np.testing.assert_array_equal(runs[0].points, runs[1].points)
    assert runs[0].classes == runs[1].classes
    assert runs[0].settings["n_starts"] == 11
    a = sample_states(starts[1:], 5, generator=gen(2), noise_std=0.1)
    b = sample_states(starts[1:], 5, generator=gen(2), noise_std=0.1)
    torch.testing.assert_close(a, b)
