"""Grating stimulus per neuron (circuits.md B4).

Neuron i of population P at integer step t and direction θ receives

    I_i(t) = A_P · cos(K (a_i cos θ + b_i sin θ) − φ_s) · c_P(t),

with receptive-field positions (a_i, b_i) uniform in the unit disk, c_P(t) = cos(ω t) for a
drifting (temporally modulated) population and the constant cos(ω) for a steady one. There is
no offset, so inputs can be negative. Direction asymmetry comes only from φ_s ≠ 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def receptive_fields(n_neurons: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Positions (a, b) uniform in the unit disk: radius sqrt(U(0,1)), angle U(0, 2π)."""
    radius_sq = rng.uniform(0.0, 1.0, n_neurons)
    angle = rng.uniform(0.0, 2.0 * np.pi, n_neurons)
    radius = np.sqrt(radius_sq)
    return radius * np.cos(angle), radius * np.sin(angle)


def spatial_profile(
    a: np.ndarray,
    b: np.ndarray,
    population: np.ndarray,
    amplitude: Sequence[float],
    directions_deg: Sequence[float],
    spatial_frequency: float,
    spatial_phase: float,
) -> np.ndarray:
    """A_P cos(K(a cos θ + b sin θ) − φ_s), shape (n_directions, N)."""
    theta = np.deg2rad(np.asarray(directions_deg, dtype=np.float64))[:, None]
    amp = np.asarray(amplitude, dtype=np.float64)
    if amp.shape != (4,):
        raise ValueError(f"amplitude must have 4 entries (CS, CC, PV, SST), got {amplitude}")
    proj = a[None, :] * np.cos(theta) + b[None, :] * np.sin(theta)
    return amp[population][None, :] * np.cos(spatial_frequency * proj - spatial_phase)


def temporal_factor(
    step: int | np.ndarray, steady: Sequence[bool], temporal_frequency: float
) -> np.ndarray:
    """c_P(t) per population, shape (..., 4): cos(ω t) if drifting, cos(ω) if steady."""
    steady_arr = np.asarray(steady, dtype=bool)
    if steady_arr.shape != (4,):
        raise ValueError(f"steady must have 4 entries (CS, CC, PV, SST), got {steady}")
    t = np.asarray(step, dtype=np.float64)[..., None]
    drifting = np.cos(temporal_frequency * t)
    return np.where(steady_arr, np.cos(temporal_frequency), drifting)


def grating(
    profile: np.ndarray,
    population: np.ndarray,
    n_steps: int,
    steady: Sequence[bool],
    temporal_frequency: float,
) -> np.ndarray:
    """Full input I[t, direction, neuron] for steps 0..n_steps−1 (tests and plots)."""
    c = temporal_factor(np.arange(n_steps), steady, temporal_frequency)[:, population]
    return profile[None, :, :] * c[:, None, :]
