"""Flow fields of a continuous-time RNN in the PC1–PC2 plane (rhythm.md §7, Fig-5 analogues).

Fixes against the original ``plot_fig5.py``:

- **One preprocessing, everywhere.** :class:`StatePCA` stores the centring and the optional
  per-unit scaling it was fitted with, and applies them in :meth:`StatePCA.transform`
  (trajectories, fixed points), :meth:`StatePCA.inverse_transform` (grid → states) and
  :meth:`StatePCA.transform_vectors` (velocities: scaled, not centred). The original
  fitted on z-scored states but projected raw ones.
- **The vector field, not one Euler step.** Arrows are dz/dt = C (F(x) / s) for the
  continuous-time field F (:func:`rnnlab.analysis.fixed_points.ctrnn_field`), so they do
  not depend on dt and nothing "evolves" between panels.
- **An explicit plane.** Grid point (g₁, g₂) is lifted to
  ``x = x_ref + s ⊙ ((g₁ − z₁ʳᵉᶠ) c₁ + (g₂ − z₂ʳᵉᶠ) c₂)``: the plane through a reference
  state x_ref (e.g. the trajectory's end) spanned by PC1 and PC2, so every other PC
  coordinate — and any residual outside the fitted PCs — is that of x_ref. For a
  full-rank PCA this equals ``inverse_transform([g₁, g₂, z₃ʳᵉᶠ, …])``.
- Fixed points come from a finder (no heuristic initial conditions) and the regime per cue
  is classified from them and the trajectory (:func:`classify_regime`).

PCA is a NumPy SVD (scikit-learn is not a dependency); component signs are fixed so
that each component's largest-magnitude loading is positive.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from rnnlab.analysis.fixed_points import (
    STABLE_FOCUS,
    STABLE_NODE,
    FixedPointResult,
    VectorField,
    ctrnn_field,
)
from rnnlab.io import atomic_write_npz
from rnnlab.models.ctrnn import CTRNN
from rnnlab.tasks.rhythm import CUE_CHANNEL

LIMIT_CYCLE = "limit cycle"
FIXED_POINT = "fixed point"
TRANSIENT = "transient"


# --- PCA -------------------------------------------------------------------------------
@dataclass(frozen=True)
class StatePCA:
    """PCA of states: z = C ((x − m) / s); s = 1 unless fitted with ``standardize``."""

    mean: np.ndarray  # (N,)
    scale: np.ndarray  # (N,)
    components: np.ndarray  # (k, N), orthonormal rows
    explained_variance: np.ndarray  # (k,) variance of each z, in preprocessed units
    explained_variance_ratio: np.ndarray  # (k,)
    standardize: bool = False

    @property
    def n_components(self) -> int:
        return int(self.components.shape[0])

    def transform(self, x: np.ndarray) -> np.ndarray:
        """States (…, N) → PC coordinates (…, k), through the fitted preprocessing."""
        return ((np.asarray(x, dtype=np.float64) - self.mean) / self.scale) @ self.components.T

    def inverse_transform(self, z: np.ndarray) -> np.ndarray:
        """PC coordinates (…, k) → states (…, N); exact for states in the PC span."""
        return (np.asarray(z, dtype=np.float64) @ self.components) * self.scale + self.mean

    def transform_vectors(self, v: np.ndarray) -> np.ndarray:
        """Tangent vectors (velocities) (…, N) → (…, k): scaled like states, not centred."""
        return (np.asarray(v, dtype=np.float64) / self.scale) @ self.components.T

    def to_arrays(self, prefix: str = "pca_") -> dict[str, np.ndarray]:
        return {
            f"{prefix}mean": self.mean,
            f"{prefix}scale": self.scale,
            f"{prefix}components": self.components,
            f"{prefix}explained_variance": self.explained_variance,
            f"{prefix}explained_variance_ratio": self.explained_variance_ratio,
        }


def fit_pca(
    states: np.ndarray,
    n_components: int | None = None,
    *,
    standardize: bool = False,
    min_std: float = 1e-12,
) -> StatePCA:
    """Fit a PCA to states (…, N), flattened over all leading axes.

    ``standardize`` z-scores each unit first (units with std < ``min_std``, e.g. silent
    ReLU units, keep scale 1 so nothing divides by zero). The default is plain centring,
    which keeps PC distances Euclidean in state space.
    """
    x = np.asarray(states, dtype=np.float64)
    x = x.reshape(-1, x.shape[-1])
    if x.shape[0] < 2:
        raise ValueError("fit_pca: need at least 2 states")
    mean = x.mean(0)
    scale = np.ones_like(mean)
    if standardize:
        std = x.std(0)
        scale = np.where(std < min_std, 1.0, std)
    z = (x - mean) / scale
    _, sing, vt = np.linalg.svd(z, full_matrices=False)
    k = vt.shape[0] if n_components is None else int(n_components)
    if not 1 <= k <= vt.shape[0]:
        raise ValueError(f"fit_pca: n_components must be in [1, {vt.shape[0]}], got {k}")
    comps = vt[:k]
    signs = np.sign(comps[np.arange(k), np.argmax(np.abs(comps), axis=1)])
    comps = comps * np.where(signs == 0, 1.0, signs)[:, None]
    var = sing**2 / (x.shape[0] - 1)
    total = var.sum()
    ratio = var / total if total > 0 else np.zeros_like(var)
    return StatePCA(mean, scale, comps, var[:k], ratio[:k], standardize)


# --- trajectories ----------------------------------------------------------------------
def cue_input(cue: float, n_input: int = 2, cue_channel: int = CUE_CHANNEL) -> np.ndarray:
    """The constant input vector of a pulse-free drive: ``cue`` on the cue channel, else 0."""
    u = np.zeros(n_input)
    u[cue_channel] = cue
    return u


@torch.no_grad()
def ctrnn_trajectories(
    model: CTRNN,
    inputs: np.ndarray | Sequence[np.ndarray],
    n_steps: int,
    *,
    x0: np.ndarray | torch.Tensor | None = None,
) -> np.ndarray:
    """States (C, n_steps + 1, N) of the model's own noise-free Euler update, one row per
    constant input in ``inputs`` (C, n_input), starting at ``x0`` (default the model's x0).
    """
    device = next(model.parameters()).device
    u = torch.as_tensor(np.asarray(inputs, dtype=np.float32), device=device)
    u = u.reshape(-1, model.config.n_input)
    seq = u.unsqueeze(1).expand(-1, n_steps, -1).contiguous()
    start = model.x0 if x0 is None else torch.as_tensor(x0, dtype=torch.float32, device=device)
    start = start.expand(u.shape[0], model.config.n_hidden)
    was_training = model.training
    model.eval()
    _, _, states = model(seq, x0=start, return_states=True)
    model.train(was_training)
    return torch.cat([start.unsqueeze(1), states], dim=1).cpu().double().numpy()


@torch.no_grad()
def integrate(
    field_fn: VectorField, x0: np.ndarray | torch.Tensor, dt: float, n_steps: int
) -> np.ndarray:
    """Classical RK4 of dx/dt = F(x) from x0 (N,) or (K, N); returns (n_steps + 1, *x0.shape)."""
    if isinstance(x0, torch.Tensor):
        x0 = x0.detach().cpu().numpy()
    device = getattr(field_fn, "device", None) or torch.device("cpu")
    x = torch.as_tensor(np.asarray(x0, dtype=np.float64), device=device)
    single = x.dim() == 1
    x = x.reshape(-1, x.shape[-1])
    out = [x.clone()]
    for _ in range(n_steps):
        k1 = field_fn(x)
        k2 = field_fn(x + 0.5 * dt * k1)
        k3 = field_fn(x + 0.5 * dt * k2)
        k4 = field_fn(x + dt * k3)
        x = x + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
        out.append(x.clone())
    traj = torch.stack(out).cpu().numpy()
    return traj[:, 0] if single else traj


# --- flow field ------------------------------------------------------------------------
@dataclass
class FlowField:
    """A flow field in the PC1–PC2 plane through ``reference_state``.

    ``grid``, ``velocity``: (n₂, n₁, 2) with row i at ``pc2[i]`` and column j at ``pc1[j]``
    (``np.meshgrid`` "xy" order, as ``plt.quiver(pc1, pc2, u, v)`` expects); ``speed``
    (n₂, n₁) is ‖F(x)‖ in full state space. Points are (…, 2) PC1–PC2 projections.
    """

    pc1: np.ndarray
    pc2: np.ndarray
    grid: np.ndarray
    velocity: np.ndarray
    speed: np.ndarray
    reference_state: np.ndarray
    reference_pc: np.ndarray  # (k,) all PC coordinates of the reference state
    trajectory: np.ndarray  # (T, 2), empty if none given
    fixed_points: np.ndarray  # (M, 2)
    fixed_point_classes: list[str]
    slow_points: np.ndarray  # (S, 2)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays (classes as a unicode array) for ``np.savez``."""
        return {
            "pc1": self.pc1,
            "pc2": self.pc2,
            "grid": self.grid,
            "velocity": self.velocity,
            "speed": self.speed,
            "reference_state": self.reference_state,
            "reference_pc": self.reference_pc,
            "trajectory": self.trajectory,
            "fixed_points": self.fixed_points,
            "fixed_point_classes": np.asarray(self.fixed_point_classes, dtype=str),
            "slow_points": self.slow_points,
        }


def plane_states(pca: StatePCA, reference_state: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Lift PC1–PC2 points (…, 2) to states (…, N) on the plane through the reference."""
    ref = np.asarray(reference_state, dtype=np.float64)
    dz = np.asarray(grid, dtype=np.float64) - pca.transform(ref)[:2]
    return ref + (dz @ pca.components[:2]) * pca.scale


def _half_widths(
    center: np.ndarray, clouds: list[np.ndarray], half_width: float | tuple[float, float] | None
) -> np.ndarray:
    if half_width is not None:
        return np.broadcast_to(np.asarray(half_width, dtype=np.float64), (2,)).copy()
    pts = [c for c in clouds if c.size]
    if not pts:
        return np.ones(2)
    dev = np.abs(np.concatenate(pts, axis=0) - center).max(0) * 1.2
    return np.where(dev > 0, dev, 1.0)


def flow_field(
    field_fn: VectorField,
    pca: StatePCA,
    reference_state: np.ndarray,
    *,
    trajectory: np.ndarray | None = None,
    fixed_points: FixedPointResult | None = None,
    center: tuple[float, float] | np.ndarray | None = None,
    half_width: float | tuple[float, float] | None = None,
    n_grid: int = 32,
    chunk: int = 8192,
) -> FlowField:
    """Evaluate dx/dt = F(x) on an n_grid × n_grid PC1–PC2 grid and project it.

    The grid is centred on ``center`` (default: the reference state's projection) and
    spans ± ``half_width`` (default: 1.2 × the largest deviation of the projected
    trajectory and fixed points from the centre).
    """
    if pca.n_components < 2:
        raise ValueError("flow_field: the PCA needs at least 2 components")
    ref = np.asarray(reference_state, dtype=np.float64)
    ref_pc = pca.transform(ref)
    ctr = ref_pc[:2] if center is None else np.asarray(center, dtype=np.float64)
    traj_pc = np.zeros((0, 2)) if trajectory is None else pca.transform(trajectory)[:, :2]
    n_dim = pca.mean.shape[0]
    fp_pc, slow_pc, classes = np.zeros((0, 2)), np.zeros((0, 2)), []
    if fixed_points is not None:
        fp_pc = pca.transform(fixed_points.points.reshape(-1, n_dim))[:, :2]
        slow_pc = pca.transform(fixed_points.slow_points.reshape(-1, n_dim))[:, :2]
        classes = list(fixed_points.classes)
    hw = _half_widths(ctr, [traj_pc, fp_pc], half_width)
    pc1 = np.linspace(ctr[0] - hw[0], ctr[0] + hw[0], n_grid)
    pc2 = np.linspace(ctr[1] - hw[1], ctr[1] + hw[1], n_grid)
    g1, g2 = np.meshgrid(pc1, pc2, indexing="xy")
    grid = np.stack([g1, g2], axis=-1)
    states = plane_states(pca, ref, grid.reshape(-1, 2))
    vel = []
    with torch.no_grad():
        for i in range(0, states.shape[0], chunk):
            f = field_fn(torch.as_tensor(states[i : i + chunk], dtype=torch.float64))
            vel.append(f.detach().cpu().double().numpy())
    f_all = np.concatenate(vel, axis=0)
    velocity = pca.transform_vectors(f_all)[:, :2].reshape(n_grid, n_grid, 2)
    speed = np.linalg.norm(f_all, axis=-1).reshape(n_grid, n_grid)
    return FlowField(
        pc1=pc1,
        pc2=pc2,
        grid=grid,
        velocity=velocity,
        speed=speed,
        reference_state=ref,
        reference_pc=ref_pc,
        trajectory=traj_pc,
        fixed_points=fp_pc,
        fixed_point_classes=classes,
        slow_points=slow_pc,
    )


def ctrnn_flow_field(
    model: CTRNN,
    u: np.ndarray,
    pca: StatePCA,
    trajectory: np.ndarray,
    *,
    fixed_points: FixedPointResult | None = None,
    reference_state: np.ndarray | None = None,
    **kwargs: Any,
) -> FlowField:
    """:func:`flow_field` of a CTRNN at constant input ``u``; the plane goes through
    ``reference_state`` (default the trajectory's last state). Velocity in units of 1/τ.
    """
    ref = np.asarray(trajectory)[-1] if reference_state is None else reference_state
    return flow_field(
        ctrnn_field(model, u),
        pca,
        ref,
        trajectory=trajectory,
        fixed_points=fixed_points,
        **kwargs,
    )


def save_flow_npz(
    path: str | os.PathLike[str], flow: FlowField, pca: StatePCA | None = None
) -> None:
    """Write one flow field (and optionally its PCA) atomically as .npz."""
    arrays = flow.to_arrays()
    if pca is not None:
        arrays.update(pca.to_arrays())
    atomic_write_npz(path, arrays)


# --- regime ----------------------------------------------------------------------------
def _amplitude(x: np.ndarray) -> float:
    """RMS distance of states (T, N) from their mean."""
    return float(np.sqrt(np.mean(np.sum((x - x.mean(0)) ** 2, axis=-1))))


def _mean_crossings(x: np.ndarray) -> int:
    """Mean crossings of the projection of (T, N) on its own first principal axis."""
    c = x - x.mean(0)
    if not np.any(c):
        return 0
    _, _, vt = np.linalg.svd(c, full_matrices=False)
    p = c @ vt[0]
    s = np.sign(p[np.abs(p) > 1e-12 * np.abs(p).max()])
    return int(np.sum(s[1:] != s[:-1]))


def classify_regime(
    trajectory: np.ndarray,
    fixed_points: FixedPointResult | None = None,
    *,
    tail_fraction: float = 0.5,
    settle_rtol: float = 1e-3,
    sustain_ratio: float = 0.9,
    min_crossings: int = 4,
) -> str:
    """The dynamical regime at one cue, for metrics.

    The tail (last ``tail_fraction`` of the states (T, N)) is split in two halves A, B
    with RMS amplitudes a_A, a_B about their means; s is the whole trajectory's amplitude.

    - a_B ≤ ``settle_rtol`` · s: settled → the class of the nearest stable fixed point
      (``stable node`` / ``stable focus``), or ``fixed point`` if none is known;
    - a_B ≥ ``sustain_ratio`` · a_A and at least ``min_crossings`` mean crossings in B:
      ``limit cycle`` (sustained oscillation);
    - otherwise still converging: the class of the stable fixed point nearest the end
      state, or ``transient`` if there is none.

    The tail must span several periods and be long compared with the slowest decay time,
    else a slowly damped focus reads as a limit cycle.
    """
    x = np.asarray(trajectory, dtype=np.float64)
    n_tail = max(8, int(round(x.shape[0] * tail_fraction)))
    tail = x[-n_tail:]
    half = tail.shape[0] // 2
    a_a, a_b = _amplitude(tail[:half]), _amplitude(tail[half:])
    spread = _amplitude(x)

    def nearest_stable() -> str | None:
        if fixed_points is None or len(fixed_points) == 0:
            return None
        stable = [i for i, c in enumerate(fixed_points.classes) if c in (STABLE_NODE, STABLE_FOCUS)]
        if not stable:
            return None
        dist = np.linalg.norm(fixed_points.points[stable] - x[-1], axis=-1)
        return fixed_points.classes[stable[int(np.argmin(dist))]]

    if a_b <= settle_rtol * spread:
        return nearest_stable() or FIXED_POINT
    if a_b >= sustain_ratio * a_a and _mean_crossings(tail[half:]) >= min_crossings:
        return LIMIT_CYCLE
    return nearest_stable() or TRANSIENT


def regime_metrics(
    cue: float, regime: str, fixed_points: FixedPointResult | None = None
) -> dict[str, Any]:
    """One JSON-ready metrics row: the cue, its regime and the fixed-point digest."""
    row: dict[str, Any] = {"cue": float(cue), "regime": regime}
    if fixed_points is not None:
        row.update(fixed_points.summary())
    return row
