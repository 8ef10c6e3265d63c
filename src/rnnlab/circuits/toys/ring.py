"""Rectified-linear ring attractor (condense.md §4.1; Ben-Yishai et al. 1995 form).

    τ dr_i/dt = −r_i + [Σ_j W_ij r_j + h0 + h1 cos(θ_i − θ0(t)) − T]_+,
    W_ij = (w0 + w1 cos(θ_i − θ_j)) / N,  θ_i = 2π i / N.

With no tuned input (h1 = 0) and h0 > T the stationary bump is
r(θ) = A[cos(θ − ψ) − cos θc]_+ whose half-width θc solves w1(θc − ½ sin 2θc) = 2π, so a bump
exists iff w1 > 2; its peak A(1 − cos θc) = (h0 − T)(1 − cos θc) / D with
D = −cos θc − w0 (sin θc − θc cos θc)/π (activity runs away when D ≤ 0).
Euler integration (the reference's dt = 0.01 τ); time in units of τ. Pure numpy/scipy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq


@dataclass(frozen=True)
class RingParams:
    """Network and drive; defaults are the reference's oracle setting (condense.md §4.1)."""

    n: int = 100
    w0: float = -2.0
    w1: float = 4.0
    h0: float = 3.0
    h1: float = 0.0
    threshold: float = 2.0
    tau: float = 1.0
    dt: float = 0.01

    def __post_init__(self) -> None:
        if self.n < 8:
            raise ValueError(f"ring: n = {self.n} must be >= 8")
        if self.tau <= 0 or not 0 < self.dt <= 0.5 * self.tau:
            raise ValueError("ring: need tau > 0 and 0 < dt <= tau/2 (Euler stability)")


def angles(n: int) -> np.ndarray:
    """Preferred directions θ_i = 2π i / N in [0, 2π)."""
    return 2.0 * np.pi * np.arange(n) / n


def weights(p: RingParams) -> np.ndarray:
    """W_ij = (w0 + w1 cos(θ_i − θ_j)) / N."""
    th = angles(p.n)
    return (p.w0 + p.w1 * np.cos(th[:, None] - th[None, :])) / p.n


def half_width_closed_form(w1: float) -> float | None:
    """θc solving w1(θc − ½ sin 2θc) = 2π; None when w1 <= 2 (no bump)."""
    if w1 <= 2.0:
        return None
    return float(brentq(lambda x: w1 * (x - 0.5 * np.sin(2 * x)) - 2 * np.pi, 1e-9, np.pi))


def peak_closed_form(w0: float, w1: float, drive: float) -> float | None:
    """Peak rate A(1 − cos θc) for net untuned drive ``drive`` = h0 − T; None if no bump or
    the denominator is <= 0 (runaway)."""
    theta_c = half_width_closed_form(w1)
    if theta_c is None:
        return None
    denom = -np.cos(theta_c) - w0 * (np.sin(theta_c) - theta_c * np.cos(theta_c)) / np.pi
    if denom <= 0:
        return None
    return float(drive * (1.0 - np.cos(theta_c)) / denom)


def simulate(
    p: RingParams,
    duration: float,
    r0: np.ndarray,
    stimulus_angle: np.ndarray | None = None,
    record_every: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Euler-integrate from ``r0``; ``stimulus_angle`` gives θ0 per step (len = n_steps) for
    the tuned input h1 cos(θ − θ0). Returns ``(t, rates)`` with rates (n_rec, N), t in τ."""
    n_steps = int(round(duration / p.dt))
    r = np.asarray(r0, dtype=np.float64).copy()
    if r.shape != (p.n,):
        raise ValueError(f"ring: r0 must have shape ({p.n},), got {r.shape}")
    if stimulus_angle is not None and len(stimulus_angle) < n_steps:
        raise ValueError("ring: stimulus_angle shorter than the number of steps")
    w = weights(p)
    th = angles(p.n)
    k = p.dt / p.tau
    n_rec = n_steps // record_every + 1
    out = np.empty((n_rec, p.n))
    out[0] = r
    for step in range(n_steps):
        drive = w @ r + p.h0 - p.threshold
        if stimulus_angle is not None and p.h1 != 0.0:
            drive = drive + p.h1 * np.cos(th - stimulus_angle[step])
        r += k * (np.maximum(drive, 0.0) - r)
        if not np.all(np.isfinite(r)) or r.max() > 1e6:
            raise FloatingPointError(f"ring: activity runs away at step {step} (w0={p.w0})")
        if (step + 1) % record_every == 0:
            out[(step + 1) // record_every] = r
    t = np.arange(n_rec) * record_every * p.dt
    return t, out


def population_angle(rates: np.ndarray) -> np.ndarray:
    """Population-vector angle in [0, 2π) for rates (..., N)."""
    th = angles(rates.shape[-1])
    return np.mod(np.angle(rates @ np.exp(1j * th)), 2 * np.pi)


def wrap(x: np.ndarray | float) -> np.ndarray | float:
    """Angle difference wrapped to (−π, π]."""
    return np.angle(np.exp(1j * np.asarray(x)))


def bump_fit(rates: np.ndarray, rel_tol: float = 1e-6) -> dict[str, float | bool | None]:
    """Fit r = A cos(θ − ψ) − A cos θc on the active units (sub-grid half-width).

    A bump needs some but not all units silent (rates <= ``rel_tol`` × max). Returns
    ``bump``, ``half_width_rad``, ``peak``, ``centre_rad`` and the relative modulation.
    """
    r = np.asarray(rates, dtype=np.float64)
    peak = float(r.max())
    mod = float((peak - r.min()) / peak) if peak > 0 else 0.0
    res: dict[str, float | bool | None] = {
        "bump": False,
        "half_width_rad": None,
        "peak": peak,
        "centre_rad": None,
        "modulation": mod,
    }
    active = r > rel_tol * peak
    if peak <= 0 or active.all() or active.sum() < 3:
        return res
    psi = float(population_angle(r))
    c = np.cos(angles(r.size) - psi)[active]
    slope, intercept = np.polyfit(c, r[active], 1)
    cos_c = -intercept / slope
    if slope <= 0 or not -1.0 < cos_c < 1.0:
        return res
    res.update(bump=True, half_width_rad=float(np.arccos(cos_c)), centre_rad=psi)
    return res


def initial_bump(n: int, centre_rad: float, rng: np.random.Generator, noise: float) -> np.ndarray:
    """A small seeded cosine bump plus uniform noise: breaks the ring's symmetry."""
    th = angles(n)
    return 0.1 * np.maximum(np.cos(th - centre_rad), 0.0) + noise * rng.random(n)


def stationary_bump(
    p: RingParams, duration: float, rng: np.random.Generator, noise: float = 0.01
) -> tuple[np.ndarray, dict[str, float | bool | None]]:
    """Run from a seeded small bump with no tuned input; return final rates and the fit."""
    r0 = initial_bump(p.n, float(rng.uniform(0, 2 * np.pi)), rng, noise)
    _, rates = simulate(p, duration, r0, record_every=int(round(duration / p.dt)))
    return rates[-1], bump_fit(rates[-1])


def moving_bump(
    p: RingParams,
    duration: float,
    speed_rad_per_tau: float,
    rng: np.random.Generator,
    settle: float,
    record_every: int = 10,
    noise: float = 0.01,
) -> dict[str, np.ndarray | float]:
    """Bump driven by a tuned input rotating at ``speed_rad_per_tau`` (θ0 = speed·t).

    The first ``settle`` τ are discarded; the lag is the mean wrapped (θ0 − ψ) afterwards
    (positive = bump behind the input), its s.d. the tracking jitter.
    """
    n_steps = int(round(duration / p.dt))
    theta0 = speed_rad_per_tau * p.dt * np.arange(n_steps)
    r0 = initial_bump(p.n, 0.0, rng, noise)
    t, rates = simulate(p, duration, r0, stimulus_angle=theta0, record_every=record_every)
    psi = population_angle(rates)
    stim = np.mod(speed_rad_per_tau * t, 2 * np.pi)
    lag = np.asarray(wrap(stim - psi))
    after = t >= settle
    return {
        "t": t,
        "rates": rates,
        "stimulus_rad": stim,
        "centre_rad": psi,
        "lag_rad": lag,
        "mean_lag_rad": float(lag[after].mean()),
        "lag_sd_rad": float(lag[after].std()),
        "max_abs_error_rad": float(np.abs(lag[after]).max()),
    }
