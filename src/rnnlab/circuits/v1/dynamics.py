"""Rate dynamics (circuits.md B3): τ dr/dt = −r + f(W r + I), f = clip(x, floor, ceiling).

The original's floor is 0.01 (not 0), which keeps every rate above 0.01 and makes the
"silent population" counter practically unreachable; it is a parameter here. Inputs are held
fixed over a step. Rates carry a leading direction axis: r (D, N), W (D, N, N), I (D, N).
The recurrent input is passed as a callable ``recurrent(r) -> W r`` so that the simulator can
keep pending low-rank weight updates out of W until they are applied in one matrix product.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

INTEGRATORS = ("forward_euler", "rk4")


def rectify(x: np.ndarray, floor: float = 0.01, ceiling: float = 500.0) -> np.ndarray:
    """The original's 'supralinear' nonlinearity with gamma = 1: clip(x, floor, ceiling)."""
    return np.clip(x, floor, ceiling)


def matvec(w: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """``recurrent`` callable for a plain batched matrix W (D, N, N)."""
    return lambda r: np.matmul(w, r[..., None])[..., 0]


def drift(
    r: np.ndarray,
    recurrent: Callable[[np.ndarray], np.ndarray],
    inp: np.ndarray,
    tau: float,
    floor: float,
    ceiling: float,
) -> np.ndarray:
    """dr/dt = (−r + f(W r + I)) / τ for batched rates r (D, N)."""
    return (rectify(recurrent(r) + inp, floor, ceiling) - r) / tau


def step(
    r: np.ndarray,
    recurrent: Callable[[np.ndarray], np.ndarray],
    inp: np.ndarray,
    dt: float,
    tau: float,
    floor: float = 0.01,
    ceiling: float = 500.0,
    integrator: str = "forward_euler",
) -> np.ndarray:
    """One step of the rate equation by forward Euler (the original) or classic RK4."""
    if integrator == "forward_euler":
        return r + dt * drift(r, recurrent, inp, tau, floor, ceiling)
    if integrator == "rk4":
        k1 = drift(r, recurrent, inp, tau, floor, ceiling)
        k2 = drift(r + 0.5 * dt * k1, recurrent, inp, tau, floor, ceiling)
        k3 = drift(r + 0.5 * dt * k2, recurrent, inp, tau, floor, ceiling)
        k4 = drift(r + dt * k3, recurrent, inp, tau, floor, ceiling)
        return r + dt / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
    raise ValueError(f"integrator must be one of {INTEGRATORS}, got {integrator!r}")
