"""Two-unit linear recurrent network (condense.md §4.4).

    τ dx/dt = −x + W x + I.

Each eigenvector v_k of W (eigenvalue λ_k, real here) is a mode that relaxes with its own
time constant τ_k = τ / (1 − λ_k) (stable iff λ_k < 1, a line attractor at λ_k = 1), towards
x* = (1 − W)⁻¹ I. The closed form x(t) = x* + Σ_k c_k e^{−t/τ_k} v_k (c = V⁻¹(x0 − x*)) is
the oracle for an RK4 simulation; time constants are re-measured from the simulated
trajectory by a log-linear fit of each mode's coordinate (left eigenvector projection).
Pure numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TwoUnitParams:
    """Weights W (2×2, real eigenvalues < 1), input I and time constant τ (s)."""

    w: tuple[tuple[float, float], tuple[float, float]] = ((0.6, 0.3), (0.2, 0.5))
    i: tuple[float, float] = (1.0, 0.5)
    tau_s: float = 0.01

    def __post_init__(self) -> None:
        w = np.asarray(self.w, dtype=np.float64)
        if w.shape != (2, 2) or np.asarray(self.i).shape != (2,):
            raise ValueError("two_unit: w must be 2x2 and i of length 2")
        if self.tau_s <= 0:
            raise ValueError("two_unit: tau_s must be > 0")
        lam = np.linalg.eigvals(w)
        if np.any(np.abs(lam.imag) > 1e-12) or np.any(lam.real >= 1.0):
            raise ValueError(f"two_unit: eigenvalues {lam} must be real and < 1 (stable modes)")

    @property
    def w_arr(self) -> np.ndarray:
        return np.asarray(self.w, dtype=np.float64)

    @property
    def i_arr(self) -> np.ndarray:
        return np.asarray(self.i, dtype=np.float64)


def modes(p: TwoUnitParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Eigenvalues (descending), unit right eigenvectors (columns) and τ_k = τ/(1 − λ_k)."""
    lam, vec = np.linalg.eig(p.w_arr)
    lam, vec = lam.real, vec.real
    order = np.argsort(lam)[::-1]
    lam, vec = lam[order], vec[:, order]
    vec = vec / np.linalg.norm(vec, axis=0) * np.sign(vec[np.argmax(np.abs(vec), axis=0), [0, 1]])
    return lam, vec, p.tau_s / (1.0 - lam)


def fixed_point(p: TwoUnitParams) -> np.ndarray:
    """x* = (1 − W)⁻¹ I."""
    return np.linalg.solve(np.eye(2) - p.w_arr, p.i_arr)


def closed_form(p: TwoUnitParams, t_s: np.ndarray, x0: np.ndarray) -> np.ndarray:
    """Exact trajectory x(t) (n_t, 2) from ``x0`` under constant input."""
    lam, vec, tau_k = modes(p)
    x_star = fixed_point(p)
    c = np.linalg.solve(vec, np.asarray(x0, dtype=np.float64) - x_star)
    t = np.asarray(t_s, dtype=np.float64)[:, None]
    return x_star + (np.exp(-t / tau_k) * c) @ vec.T


def simulate(
    p: TwoUnitParams,
    x0: np.ndarray,
    duration_s: float,
    dt_s: float,
    inputs: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """RK4 with input held over each step; ``inputs`` (n_steps, 2) overrides the constant I.

    Returns ``(t_s, x)`` with x (n_steps + 1, 2).
    """
    n_steps = int(round(duration_s / dt_s))
    w = p.w_arr
    drive = np.broadcast_to(p.i_arr, (n_steps, 2)) if inputs is None else np.asarray(inputs)
    if drive.shape != (n_steps, 2):
        raise ValueError(f"two_unit: inputs must have shape ({n_steps}, 2)")
    x = np.empty((n_steps + 1, 2))
    x[0] = x0

    def f(state: np.ndarray, u: np.ndarray) -> np.ndarray:
        return (-state + w @ state + u) / p.tau_s

    for k in range(n_steps):
        s, u = x[k], drive[k]
        k1 = f(s, u)
        k2 = f(s + 0.5 * dt_s * k1, u)
        k3 = f(s + 0.5 * dt_s * k2, u)
        k4 = f(s + dt_s * k3, u)
        x[k + 1] = s + dt_s / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
    return np.arange(n_steps + 1) * dt_s, x


def fitted_time_constants(
    p: TwoUnitParams, t_s: np.ndarray, x: np.ndarray, x_star: np.ndarray, min_rel: float = 1e-6
) -> np.ndarray:
    """Per-mode τ from a log-linear fit of |mode coordinate| while it is > ``min_rel`` of its
    start (coordinates = V⁻¹ (x − x*), i.e. left-eigenvector projections). A mode that starts
    below 1e-3 of the initial distance from x* is not excited and gets NaN."""
    _, vec, _ = modes(p)
    coords = np.linalg.solve(vec, (x - x_star).T).T  # (n_t, 2)
    out = np.full(2, np.nan)
    scale = np.abs(coords[0]).max()
    for k in range(2):
        c = np.abs(coords[:, k])
        if scale == 0 or c[0] < 1e-3 * scale:
            continue
        ok = c > min_rel * c[0]
        slope = np.polyfit(t_s[ok], np.log(c[ok]), 1)[0]
        out[k] = -1.0 / slope
    return out


def pulse_inputs(
    p: TwoUnitParams, duration_s: float, dt_s: float, pulse_s: float, amplitude: float
) -> tuple[np.ndarray, list[dict[str, float | str]]]:
    """The course notebook's probe: brief pulses along unit 1, unit 2, each eigenvector and
    their negatives, spaced evenly; returns (inputs (n_steps, 2), pulse table)."""
    _, vec, _ = modes(p)
    dirs = {
        "unit 1": np.array([1.0, 0.0]),
        "unit 2": np.array([0.0, 1.0]),
        "eigvec 1": vec[:, 0],
        "eigvec 2": vec[:, 1],
        "-eigvec 1": -vec[:, 0],
        "-eigvec 2": -vec[:, 1],
    }
    n_steps = int(round(duration_s / dt_s))
    u = np.zeros((n_steps, 2))
    spacing = duration_s / len(dirs)
    table: list[dict[str, float | str]] = []
    for j, (name, d) in enumerate(dirs.items()):
        start = int(round((j * spacing + 0.1 * spacing) / dt_s))
        stop = start + max(1, int(round(pulse_s / dt_s)))
        u[start:stop] = amplitude * d
        table.append({"direction": name, "onset_s": start * dt_s, "dx": d[0], "dy": d[1]})
    return u, table
