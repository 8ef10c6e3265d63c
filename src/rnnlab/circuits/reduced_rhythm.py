"""Reduced 3-variable Tap-E / Tap-I / Int-I rate model of rhythmic timing (rhythm.md §6).

State v = (x, y, z) = (Tap-E, Tap-I, Int-I); time in seconds:

    τ_i dv_i/dt = −v_i + Σ_j W_ij f_j(v_j) + W_in,i I_cc + I_b,i,
    f_j(u) = c_j softplus(a_j u − b_j).

What is here, and why it differs from the original (``zrnn/analysis.py``):

* the published parameter table as a frozen dataclass; softplus via ``np.logaddexp`` (exact
  and overflow-free, no hand-made linear branch); an analytic Jacobian instead of a
  numerical one;
* fixed-step RK4 on a 1-ms grid from (0.075, 0.075, −0.01), vectorised over many cue
  values at once (state array ``(n_cues, 3)``);
* the period is the mean inter-peak interval of z after a transient, with prominence-based
  peak picking and parabolic sub-sample refinement; a cue counts as oscillating only with
  enough regular, non-decaying peaks (a damped focus does not count);
* fixed points by ``scipy.optimize.root`` from seeded starts plus continuation guesses,
  deduplicated and classified from the analytic Jacobian's eigenvalues;
* the oscillation band's edges are located by bisection on "a stable fixed point exists"
  (precise to ``tol``), not read off a grid: the lower edge is a saddle-node on an invariant
  circle (period diverges, checked by fitting T ∝ (I − I_low)^p), the upper edge a Hopf
  bifurcation (a complex pair crosses Re = 0; its frequency is reported);
* :func:`reduced_model_stage` writes metrics, a period curve and every array Fig 3 draws.

Layering: numpy/scipy only; nothing from train/analysis/plots.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import optimize
from scipy import signal as sps
from scipy.special import expit

from rnnlab.io import atomic_write_npz, write_csv, write_json

log = logging.getLogger(__name__)

POPULATIONS = ("Tap-E", "Tap-I", "Int-I")
DEFAULT_INITIAL_STATE = (0.075, 0.075, -0.01)
CONTRACT_CUES = (0.5, 1.0)  # results contract: period_ms_at_0.5, period_ms_at_1.0
KIND_NAMES = ("stable node", "stable focus", "unstable node", "unstable focus", "saddle")
CURVE_COLUMNS = ["i_cc", "period_ms", "oscillating", "amplitude_z", "n_peaks", "interval_cv"]

# Published table (rhythm.md §6). Row i of W = input weights onto population i from (x, y, z).
PUBLISHED_W = (
    (8.949, -7.4, -2.952),
    (9.123, -7.386, -3.072),
    (8.935, -4.0, -1.0),
)
PUBLISHED_W_IN = (0.048, 0.055, 0.068)
PUBLISHED_I_B = (0.0, 0.0, -0.1)
PUBLISHED_TAU_S = (0.01, 0.01, 0.05)
PUBLISHED_A = (150.134, 62.873, 87.0)
PUBLISHED_B = (-0.476, 0.481, -0.781)
PUBLISHED_C = (0.007, 0.016, 0.012)


def _frozen(values: Any, shape: tuple[int, ...], name: str) -> np.ndarray:
    arr = np.array(values, dtype=np.float64)
    if arr.shape != shape:
        raise ValueError(f"{name}: expected shape {shape}, got {arr.shape}")
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False)
class ReducedRhythmParams:
    """Parameter table of the reduced model; defaults are the published values (rhythm.md §6).

    Arrays are stored read-only, so an instance cannot be mutated in place (the original
    ``plot_fig3`` mutated its shared default dict).
    """

    w: np.ndarray = field(default_factory=lambda: np.array(PUBLISHED_W))
    w_in: np.ndarray = field(default_factory=lambda: np.array(PUBLISHED_W_IN))
    i_b: np.ndarray = field(default_factory=lambda: np.array(PUBLISHED_I_B))
    tau_s: np.ndarray = field(default_factory=lambda: np.array(PUBLISHED_TAU_S))
    a: np.ndarray = field(default_factory=lambda: np.array(PUBLISHED_A))
    b: np.ndarray = field(default_factory=lambda: np.array(PUBLISHED_B))
    c: np.ndarray = field(default_factory=lambda: np.array(PUBLISHED_C))

    def __post_init__(self) -> None:
        object.__setattr__(self, "w", _frozen(self.w, (3, 3), "w"))
        for name in ("w_in", "i_b", "tau_s", "a", "b", "c"):
            object.__setattr__(self, name, _frozen(getattr(self, name), (3,), name))
        if np.any(self.tau_s <= 0):
            raise ValueError("tau_s must be positive")


PUBLISHED = ReducedRhythmParams()


# ---------------------------------------------------------------- model equations


def rates(v: np.ndarray, p: ReducedRhythmParams = PUBLISHED) -> np.ndarray:
    """f_j(v_j) = c_j softplus(a_j v_j − b_j), overflow-safe; ``v`` has shape (..., 3)."""
    return p.c * np.logaddexp(0.0, p.a * v - p.b)


def rate_slopes(v: np.ndarray, p: ReducedRhythmParams = PUBLISHED) -> np.ndarray:
    """f_j'(v_j) = c_j a_j σ(a_j v_j − b_j), shape (..., 3)."""
    return p.c * p.a * expit(p.a * v - p.b)


def vector_field(
    v: np.ndarray, i_cc: float | np.ndarray, p: ReducedRhythmParams = PUBLISHED
) -> np.ndarray:
    """dv/dt in 1/s for states ``v`` (..., 3) and cues ``i_cc`` broadcastable to v[..., 0]."""
    v = np.asarray(v, dtype=np.float64)
    drive = rates(v, p) @ p.w.T + np.asarray(i_cc, dtype=np.float64)[..., None] * p.w_in + p.i_b
    return (drive - v) / p.tau_s


def jacobian(v: np.ndarray, p: ReducedRhythmParams = PUBLISHED) -> np.ndarray:
    """Analytic ∂(dv/dt)/∂v, shape (..., 3, 3); independent of I_cc (it enters additively)."""
    v = np.asarray(v, dtype=np.float64)
    jac = p.w * rate_slopes(v, p)[..., None, :] - np.eye(3)
    return jac / p.tau_s[:, None]


# ---------------------------------------------------------------- integration


def integrate_rk4(
    i_cc: float | Sequence[float] | np.ndarray,
    duration_s: float,
    dt_s: float = 1e-3,
    p: ReducedRhythmParams = PUBLISHED,
    v0: Sequence[float] | np.ndarray = DEFAULT_INITIAL_STATE,
    keep_from_s: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Fixed-step RK4 for all cues at once.

    Returns ``(t_s, states)`` with ``states`` of shape (n_kept, n_cues, 3), sampled every
    ``dt_s`` from ``keep_from_s`` (rounded to the grid) to ``duration_s`` inclusive. ``v0`` is
    one state (3,) shared by all cues, or one per cue (n_cues, 3).
    """
    cues = np.atleast_1d(np.asarray(i_cc, dtype=np.float64))
    if cues.ndim != 1:
        raise ValueError("i_cc must be a scalar or a 1-D array")
    n_steps = int(round(duration_s / dt_s))
    first = int(round(keep_from_s / dt_s))
    if n_steps < 1 or not 0 <= first <= n_steps:
        raise ValueError(f"bad duration_s={duration_s}, keep_from_s={keep_from_s}, dt_s={dt_s}")
    v = np.broadcast_to(np.asarray(v0, dtype=np.float64), (cues.size, 3)).copy()
    out = np.empty((n_steps - first + 1, cues.size, 3))
    if first == 0:
        out[0] = v
    h = float(dt_s)
    # The same equations as vector_field, with constants hoisted and in-place ufuncs: the
    # long runs near the lower band edge use few cues, so per-call overhead dominates.
    a, b, c, w_t = p.a, p.b, p.c, np.ascontiguousarray(p.w.T)
    inv_tau = 1.0 / p.tau_s
    drive = cues[:, None] * p.w_in + p.i_b
    buf = np.empty_like(v)

    def rhs(state: np.ndarray) -> np.ndarray:
        u = np.multiply(state, a, out=buf)
        u -= b
        np.logaddexp(0.0, u, out=u)
        u *= c
        du = u @ w_t
        du += drive
        du -= state
        du *= inv_tau
        return du

    for k in range(1, n_steps + 1):
        k1 = rhs(v)
        k2 = rhs(v + (0.5 * h) * k1)
        k3 = rhs(v + (0.5 * h) * k2)
        k4 = rhs(v + h * k3)
        k2 += k3
        k2 *= 2.0
        k1 += k2
        k1 += k4
        k1 *= h / 6.0
        v += k1
        if k >= first:
            out[k - first] = v
    t_s = np.arange(first, n_steps + 1) * h
    return t_s, out


# ---------------------------------------------------------------- period and oscillation


@dataclass(frozen=True)
class OscillationCriteria:
    """When a z trace counts as a sustained oscillation (the ``oscillation`` params section).

    ``prominence`` and ``min_amplitude`` are in z units; ``min_amplitude_ratio`` compares the
    last cycle's peak-to-trough amplitude with the first one after the transient, so a damped
    focus (ratio e^{Re λ·Δt} ≪ 1) is rejected however many peaks it shows.
    """

    transient_s: float = 1.0
    prominence: float = 1e-4
    min_peaks: int = 4
    max_cv: float = 0.05
    min_amplitude: float = 1e-3
    min_amplitude_ratio: float = 0.95

    @classmethod
    def from_params(cls, section: dict[str, Any]) -> OscillationCriteria:
        return cls(**{k: section[k] for k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class PeriodResult:
    """Period analysis of one z trace. ``period_s`` is NaN unless ``oscillating``."""

    period_s: float
    oscillating: bool
    n_peaks: int
    interval_cv: float
    amplitude: float  # peak-to-trough of the last cycle (z units)
    amplitude_ratio: float  # last / first cycle amplitude in the analysed window
    z_max: float  # extrema of the last cycle (NaN unless oscillating)
    z_min: float
    peak_times_s: np.ndarray  # refined, relative to the start of the analysed window


def _parabolic(y: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sub-sample offsets in [−0.5, 0.5] and vertex values of a parabola through 3 samples."""
    inner = (idx > 0) & (idx < len(y) - 1)
    offset = np.zeros(len(idx))
    value = y[idx].astype(np.float64)
    i = idx[inner]
    left, mid, right = y[i - 1], y[i], y[i + 1]
    denom = left - 2.0 * mid + right
    with np.errstate(divide="ignore", invalid="ignore"):
        off = np.where(denom < 0, 0.5 * (left - right) / denom, 0.0)
    off = np.clip(off, -0.5, 0.5)
    offset[inner] = off
    value[inner] = mid - 0.25 * (left - right) * off
    return offset, value


def measure_period(z: np.ndarray, dt_s: float, crit: OscillationCriteria) -> PeriodResult:
    """Period of a z trace already stripped of its transient (see :class:`OscillationCriteria`).

    Peaks come from ``find_peaks`` with an absolute prominence, refined by a parabola;
    the period is the mean interval, i.e. (last − first peak) / (n − 1), unbiased by the grid.
    """
    y = np.asarray(z, dtype=np.float64).ravel()
    peaks, _ = sps.find_peaks(y, prominence=crit.prominence)
    offset, heights = _parabolic(y, peaks)
    times = (peaks + offset) * dt_s
    n = int(len(peaks))
    nan = float("nan")
    if n < 2:
        return PeriodResult(nan, False, n, nan, 0.0, nan, nan, nan, times)
    troughs = np.array([y[peaks[k - 1] : peaks[k] + 1].min() for k in range(1, n)])
    amps = heights[1:] - troughs
    intervals = np.diff(times)
    cv = float(intervals.std() / intervals.mean())
    amplitude = float(amps[-1])
    ratio = float(amps[-1] / amps[0]) if amps[0] > 0 else nan
    oscillating = bool(
        n >= crit.min_peaks
        and cv <= crit.max_cv
        and amplitude >= crit.min_amplitude
        and np.isfinite(ratio)
        and ratio >= crit.min_amplitude_ratio
    )
    if not oscillating:
        return PeriodResult(nan, False, n, cv, amplitude, ratio, nan, nan, times)
    return PeriodResult(
        float(intervals.mean()),
        True,
        n,
        cv,
        amplitude,
        ratio,
        float(heights[-1]),
        float(troughs[-1]),
        times,
    )


@dataclass(frozen=True)
class PeriodSweep:
    """:func:`measure_period` over many cues, as arrays (one entry per cue)."""

    i_cc: np.ndarray
    period_s: np.ndarray
    oscillating: np.ndarray
    n_peaks: np.ndarray
    interval_cv: np.ndarray
    amplitude: np.ndarray
    amplitude_ratio: np.ndarray
    z_max: np.ndarray
    z_min: np.ndarray


def sweep_periods(
    i_cc: Sequence[float] | np.ndarray,
    duration_s: float,
    crit: OscillationCriteria,
    dt_s: float = 1e-3,
    p: ReducedRhythmParams = PUBLISHED,
    v0: Sequence[float] | np.ndarray = DEFAULT_INITIAL_STATE,
) -> tuple[PeriodSweep, np.ndarray, np.ndarray]:
    """Integrate all cues together, then analyse z after ``crit.transient_s``.

    Returns the sweep and the kept ``(t_s, states)`` (post-transient) for further use.
    """
    cues = np.atleast_1d(np.asarray(i_cc, dtype=np.float64))
    if crit.transient_s >= duration_s:
        raise ValueError("oscillation.transient_s must be shorter than the run")
    t_s, states = integrate_rk4(cues, duration_s, dt_s, p, v0, keep_from_s=crit.transient_s)
    results = [measure_period(states[:, j, 2], dt_s, crit) for j in range(cues.size)]
    sweep = PeriodSweep(
        i_cc=cues,
        period_s=np.array([r.period_s for r in results]),
        oscillating=np.array([r.oscillating for r in results], dtype=bool),
        n_peaks=np.array([r.n_peaks for r in results], dtype=np.int64),
        interval_cv=np.array([r.interval_cv for r in results]),
        amplitude=np.array([r.amplitude for r in results]),
        amplitude_ratio=np.array([r.amplitude_ratio for r in results]),
        z_max=np.array([r.z_max for r in results]),
        z_min=np.array([r.z_min for r in results]),
    )
    return sweep, t_s, states


# ---------------------------------------------------------------- fixed points


@dataclass(frozen=True)
class FixedPointSettings:
    """Root finding from seeded starts (the ``fixed_points`` params section).

    ``relax_s``: each random start is also run forward along the flow for this long (RK4,
    1-ms steps) and used as a second start. Newton's basin of the stable node is small (about
    1 start in 10 reaches it from the box), while the flow carries almost every start there.
    """

    n_starts: int = 16
    box: float = 0.5
    relax_s: float = 0.1
    dedup_tol: float = 1e-6
    residual_tol: float = 1e-12

    @classmethod
    def from_params(cls, section: dict[str, Any]) -> FixedPointSettings:
        return cls(**{k: section[k] for k in cls.__dataclass_fields__})


def classify_eigenvalues(eigenvalues: np.ndarray) -> str:
    """Name a fixed point from its Jacobian eigenvalues (one of :data:`KIND_NAMES`).

    Stable: every Re λ < 0 (focus if a complex pair exists, else node). Otherwise the
    unstable eigenvalues decide: a complex unstable pair is an "unstable focus" (trajectories
    spiral out, here with one attracting real direction: a saddle-focus in 3-D), real unstable
    eigenvalues with some stable ones a "saddle", all real and unstable an "unstable node".
    """
    lam = np.asarray(eigenvalues)
    scale = max(1.0, float(np.abs(lam).max()))
    is_complex = np.abs(lam.imag) > 1e-9 * scale
    unstable = lam.real > 0
    if not unstable.any():
        return "stable focus" if is_complex.any() else "stable node"
    if (is_complex & unstable).any():
        return "unstable focus"
    return "unstable node" if unstable.all() else "saddle"


@dataclass(frozen=True, eq=False)
class FixedPoint:
    """One equilibrium with its Jacobian spectrum."""

    state: np.ndarray
    eigenvalues: np.ndarray
    kind: str

    @property
    def stable(self) -> bool:
        return bool(np.all(self.eigenvalues.real < 0))

    @property
    def n_unstable(self) -> int:
        return int(np.sum(self.eigenvalues.real > 0))

    @property
    def max_real(self) -> float:
        return float(self.eigenvalues.real.max())


def _relaxed(cues: np.ndarray, starts: np.ndarray, relax_s: float, p: ReducedRhythmParams):
    """Starts (n, 3) moved along the flow for ``relax_s`` at their cues (n,); unique rows."""
    if relax_s <= 0 or len(starts) == 0:
        return np.empty((0, 3))
    _, end = integrate_rk4(cues, relax_s, 1e-3, p, starts, keep_from_s=relax_s)
    return end[-1]


def _unique_rows(x: np.ndarray, decimals: int = 4) -> np.ndarray:
    if len(x) == 0:
        return x.reshape(0, 3)
    _, idx = np.unique(np.round(x, decimals), axis=0, return_index=True)
    return x[np.sort(idx)]


def _solve_from(
    i_cc: float, starts: np.ndarray, settings: FixedPointSettings, p: ReducedRhythmParams
) -> list[FixedPoint]:
    """``scipy.optimize.root`` (hybr, analytic Jacobian) from each start; dedup, classify."""

    def fun(v: np.ndarray) -> np.ndarray:
        return vector_field(v, i_cc, p) * p.tau_s

    def jac(v: np.ndarray) -> np.ndarray:
        return jacobian(v, p) * p.tau_s[:, None]

    found: list[np.ndarray] = []
    for x0 in starts:
        x = optimize.root(fun, x0, jac=jac, method="hybr", options={"xtol": 1e-13}).x
        if not np.all(np.isfinite(x)) or np.abs(fun(x)).max() > settings.residual_tol:
            continue
        if all(np.abs(x - y).max() > settings.dedup_tol for y in found):
            found.append(x)
    found.sort(key=lambda s: s[2])
    out = []
    for x in found:
        lam = np.linalg.eigvals(jacobian(x, p))
        lam = lam[np.argsort(-lam.real)]
        out.append(FixedPoint(x, lam, classify_eigenvalues(lam)))
    return out


def fixed_points(
    i_cc: float,
    rng: np.random.Generator,
    settings: FixedPointSettings = FixedPointSettings(),
    p: ReducedRhythmParams = PUBLISHED,
    guesses: Sequence[np.ndarray] | np.ndarray = (),
) -> list[FixedPoint]:
    """Equilibria at one cue from ``guesses``, ``n_starts`` uniform starts in ±``box`` and
    the same starts relaxed along the flow (see :class:`FixedPointSettings`).

    The residual is τ·dv/dt (O(1) units); a root is kept if its max-abs residual is below
    ``residual_tol`` and it differs from every kept one by more than ``dedup_tol``.
    Returned sorted by z (Int-I).
    """
    random = rng.uniform(-settings.box, settings.box, size=(settings.n_starts, 3))
    relaxed = _relaxed(np.full(len(random), float(i_cc)), random, settings.relax_s, p)
    starts = np.concatenate(
        [np.asarray(guesses, dtype=np.float64).reshape(-1, 3), _unique_rows(relaxed), random]
    )
    return _solve_from(float(i_cc), starts, settings, p)


def original_rule_oscillatory(fps: Sequence[FixedPoint]) -> bool:
    """The original's criterion: exactly one fixed point and it is unstable."""
    return len(fps) == 1 and not fps[0].stable


@dataclass(frozen=True)
class FixedPointSweep:
    """Equilibria over a cue grid, flattened (one row per fixed point) with branch labels."""

    grid: np.ndarray  # (n_cues,)
    n_at_cue: np.ndarray  # (n_cues,) number of fixed points
    has_stable: np.ndarray  # (n_cues,) bool
    i_cc: np.ndarray  # (K,)
    state: np.ndarray  # (K, 3)
    eigenvalues: np.ndarray  # (K, 3) complex, sorted by decreasing real part
    stable: np.ndarray  # (K,) bool
    kind: np.ndarray  # (K,) index into KIND_NAMES
    branch: np.ndarray  # (K,) branch id from nearest-neighbour continuation
    per_cue: list[list[FixedPoint]]


def _label_branches(per_cue: list[list[FixedPoint]], jump: float) -> list[int]:
    """Continue branches cue to cue by nearest state (greedy, closest pairs first)."""
    labels: list[int] = []
    last: dict[int, np.ndarray] = {}
    next_id = 0
    for fps in per_cue:
        states = [fp.state for fp in fps]
        pairs = sorted(
            (float(np.abs(s - e).max()), i, b)
            for i, s in enumerate(states)
            for b, e in last.items()
        )
        assigned: dict[int, int] = {}
        used: set[int] = set()
        for dist, i, b in pairs:
            if dist <= jump and i not in assigned and b not in used:
                assigned[i] = b
                used.add(b)
        for i in range(len(states)):
            if i not in assigned:
                assigned[i] = next_id
                next_id += 1
        last = {assigned[i]: states[i] for i in range(len(states))}
        labels += [assigned[i] for i in range(len(states))]
    return labels


def sweep_fixed_points(
    grid: Sequence[float] | np.ndarray,
    rng: np.random.Generator,
    settings: FixedPointSettings = FixedPointSettings(),
    p: ReducedRhythmParams = PUBLISHED,
    branch_jump: float = 0.02,
) -> FixedPointSweep:
    """Equilibria at each cue: the previous cue's equilibria as guesses (continuation), plus
    random and flow-relaxed starts (relaxation vectorised over all cues at once)."""
    cues = np.asarray(grid, dtype=np.float64)
    n = settings.n_starts
    random = rng.uniform(-settings.box, settings.box, size=(cues.size, n, 3))
    relaxed = _relaxed(np.repeat(cues, n), random.reshape(-1, 3), settings.relax_s, p)
    relaxed = relaxed.reshape(cues.size, -1, 3)
    per_cue: list[list[FixedPoint]] = []
    guesses = np.empty((0, 3))
    for k, cue in enumerate(cues):
        starts = np.concatenate([guesses, _unique_rows(relaxed[k]), random[k]])
        fps = _solve_from(float(cue), starts, settings, p)
        per_cue.append(fps)
        guesses = np.array([fp.state for fp in fps]).reshape(-1, 3)
    flat = [(cue, fp) for cue, fps in zip(cues, per_cue, strict=True) for fp in fps]
    branch = _label_branches(per_cue, branch_jump)
    return FixedPointSweep(
        grid=cues,
        n_at_cue=np.array([len(f) for f in per_cue], dtype=np.int64),
        has_stable=np.array([any(fp.stable for fp in f) for f in per_cue], dtype=bool),
        i_cc=np.array([c for c, _ in flat]),
        state=np.array([fp.state for _, fp in flat]).reshape(-1, 3),
        eigenvalues=np.array([fp.eigenvalues for _, fp in flat]).reshape(-1, 3),
        stable=np.array([fp.stable for _, fp in flat], dtype=bool),
        kind=np.array([KIND_NAMES.index(fp.kind) for _, fp in flat], dtype=np.int64),
        branch=np.array(branch, dtype=np.int64),
        per_cue=per_cue,
    )


# ---------------------------------------------------------------- band edges


@dataclass(frozen=True, eq=False)
class Edge:
    """One band edge located by bisection: ``value`` within ``tol`` of the true crossing."""

    value: float
    stable_side: float  # last cue bracketing the edge where a stable fixed point exists
    unstable_side: float
    fps_stable_side: list[FixedPoint]
    fps_unstable_side: list[FixedPoint]


def bisect_stability_edge(
    stable_cue: float,
    unstable_cue: float,
    rng: np.random.Generator,
    settings: FixedPointSettings = FixedPointSettings(),
    p: ReducedRhythmParams = PUBLISHED,
    tol: float = 1e-9,
    guesses: Sequence[np.ndarray] = (),
) -> Edge:
    """Bisect on "a stable fixed point exists" between a stable and an unstable cue.

    Each step re-solves for equilibria with the bracket's current equilibria as guesses, so
    the branch that is about to vanish or lose stability is always followed.
    """
    fps_s = fixed_points(stable_cue, rng, settings, p, guesses)
    fps_u = fixed_points(unstable_cue, rng, settings, p, guesses)
    if not any(fp.stable for fp in fps_s) or any(fp.stable for fp in fps_u):
        raise ValueError(f"not a stability bracket: [{stable_cue}, {unstable_cue}]")
    lo, hi = float(stable_cue), float(unstable_cue)
    while abs(hi - lo) > tol:
        mid = 0.5 * (lo + hi)
        known = [fp.state for fp in fps_s + fps_u]
        fps_m = fixed_points(mid, rng, settings, p, known)
        if any(fp.stable for fp in fps_m):
            lo, fps_s = mid, fps_m
        else:
            hi, fps_u = mid, fps_m
    return Edge(0.5 * (lo + hi), lo, hi, fps_s, fps_u)


@dataclass(frozen=True, eq=False)
class Band:
    """The cue interval without a stable fixed point, and how each edge behaves."""

    low: Edge | None
    high: Edge | None

    @property
    def hopf_eigenvalues(self) -> np.ndarray:
        """Leading eigenvalues of the equilibrium on the stable side of the upper edge."""
        if self.high is None:
            return np.full(3, np.nan + 0j)
        fp = max((f for f in self.high.fps_stable_side if f.stable), key=lambda f: f.max_real)
        return fp.eigenvalues

    @property
    def hopf_frequency_hz(self) -> float:
        lam = self.hopf_eigenvalues[0]
        return float(abs(lam.imag) / (2 * np.pi))


def locate_band(
    sweep: FixedPointSweep,
    rng: np.random.Generator,
    settings: FixedPointSettings = FixedPointSettings(),
    p: ReducedRhythmParams = PUBLISHED,
    tol: float = 1e-9,
) -> Band:
    """Bracket the longest grid run without a stable equilibrium, then bisect both ends."""
    unstable = ~sweep.has_stable
    best, start = (0, -1, -1), None
    for i, flag in enumerate(np.append(unstable, False)):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            best = max(best, (i - start, start, i - 1))
            start = None
    _, first, last = best
    if first < 0:
        return Band(None, None)
    g = sweep.grid
    edges: list[Edge | None] = [None, None]
    for slot, (s, u) in enumerate(((first - 1, first), (last + 1, last))):
        if 0 <= s < len(g):
            guesses = [fp.state for fp in sweep.per_cue[s] + sweep.per_cue[u]]
            edges[slot] = bisect_stability_edge(g[s], g[u], rng, settings, p, tol, guesses)
    return Band(edges[0], edges[1])


def refine_fold(edge: Edge, p: ReducedRhythmParams = PUBLISHED) -> float:
    """Polish a saddle-node edge: solve τ·dv/dt = 0 and det(τJ) = 0 for (v, I_cc).

    Started from the bisection result and the stable equilibrium about to vanish; returns NaN
    unless it converges inside the bisection bracket (widened by its width). An independent
    check of the bisection, which degrades near a fold where equilibria nearly coincide.
    """
    fp = max((f for f in edge.fps_stable_side if f.stable), key=lambda f: f.max_real)
    scale = p.tau_s[:, None]

    def aug(x: np.ndarray) -> np.ndarray:
        v, cue = x[:3], x[3]
        return np.r_[vector_field(v, cue, p) * p.tau_s, np.linalg.det(jacobian(v, p) * scale)]

    # hybr may report "no progress" once at machine precision; judge by the residual instead
    sol = optimize.root(aug, np.r_[fp.state, edge.value], method="hybr", options={"xtol": 1e-14})
    width = abs(edge.unstable_side - edge.stable_side)
    lo = min(edge.stable_side, edge.unstable_side) - width
    hi = max(edge.stable_side, edge.unstable_side) + width
    cue = float(sol.x[3])
    ok = np.all(np.isfinite(sol.x)) and np.abs(aug(sol.x)).max() < 1e-10 and lo <= cue <= hi
    return cue if ok else float("nan")


def fit_divergence_exponent(offsets: np.ndarray, periods_s: np.ndarray) -> dict[str, float]:
    """Fit T = A·δ^q + B to periods at δ = I − I_low; a SNIC gives q = −1/2.

    For fixed q the model is linear in (A, B); q is found by bounded scalar minimisation of
    the relative squared error. Needs at least 3 finite periods.
    """
    offsets, periods_s = np.asarray(offsets, float), np.asarray(periods_s, float)
    ok = np.isfinite(periods_s) & (offsets > 0)
    d, t = offsets[ok], periods_s[ok]
    nan = float("nan")
    if d.size < 3:
        return {"exponent": nan, "a": nan, "b": nan}

    def solve(q: float) -> tuple[float, np.ndarray]:
        design = np.stack([d**q, np.ones_like(d)], axis=1) / t[:, None]
        coef, *_ = np.linalg.lstsq(design, np.ones_like(d), rcond=None)
        return float(np.sum((design @ coef - 1.0) ** 2)), coef

    res = optimize.minimize_scalar(
        lambda q: solve(q)[0], bounds=(-2.0, -0.05), method="bounded", options={"xatol": 1e-6}
    )
    _, coef = solve(float(res.x))
    return {"exponent": float(res.x), "a": float(coef[0]), "b": float(coef[1])}


# ---------------------------------------------------------------- stage


def _last_cycles(states: np.ndarray, oscillating: np.ndarray, prominence: float) -> np.ndarray:
    """Last full cycle (z peak to z peak, one extra sample each side so the drawn loop closes)
    per cue, NaN-padded to (n_cues, L, 3)."""
    segments = []
    for j in range(states.shape[1]):
        if not oscillating[j]:
            segments.append(np.empty((0, 3)))
            continue
        peaks, _ = sps.find_peaks(states[:, j, 2], prominence=prominence)
        segments.append(states[max(peaks[-2] - 1, 0) : peaks[-1] + 2, j, :])
    length = max([len(s) for s in segments] + [1])
    out = np.full((len(segments), length, 3), np.nan)
    for j, seg in enumerate(segments):
        out[j, : len(seg)] = seg
    return out


def _grid(section: dict[str, Any]) -> np.ndarray:
    return np.linspace(float(section["i_min"]), float(section["i_max"]), int(section["n"]))


def _most_marginal_stable(fps: Sequence[FixedPoint]) -> FixedPoint:
    return max((f for f in fps if f.stable), key=lambda f: f.max_real)


def reduced_model_stage(
    params: dict[str, Any],
    metrics_path: str,
    curve_csv_path: str,
    arrays_npz_path: str,
) -> dict[str, Any]:
    """Stage ``reduced_model``: band edges, periods, Fig-3 arrays (rhythm.md §6, §15(f)).

    ``params`` is the ``rhythm.reduced_model`` section. Writes ``metrics.json`` (contract keys
    ``band_low``, ``band_high``, ``period_ms_at_0.5``, ``period_ms_at_1.0`` plus diagnostics),
    the period-vs-cue CSV and an npz holding everything the figure draws.
    """
    start = time.perf_counter()
    p = PUBLISHED
    dt = float(params["dt_s"])
    v0 = np.asarray(params["initial_state"], dtype=np.float64)
    crit = OscillationCriteria.from_params(params["oscillation"])
    fp_settings = FixedPointSettings.from_params(params["fixed_points"])
    rng = np.random.default_rng(int(params["seed"]))

    # 1. bifurcation grid: equilibria + simulated oscillation and cycle extrema of z
    bif = params["bifurcation"]
    grid = _grid(bif)
    log.info("equilibria and simulations on %d cues", grid.size)
    fps = sweep_fixed_points(grid, rng, fp_settings, p)
    bif_sim, _, _ = sweep_periods(grid, float(bif["duration_s"]), crit, dt, p, v0)
    rule = np.array([original_rule_oscillatory(f) for f in fps.per_cue], dtype=bool)
    osc = bif_sim.oscillating

    # 2. precise edges: bisection on "a stable equilibrium exists"; fold polished separately
    edges = params["edges"]
    band = locate_band(fps, rng, fp_settings, p, float(edges["tol"]))
    if band.low is None or band.high is None:
        raise RuntimeError("reduced model: the cue grid does not bracket the oscillation band")
    band_low, band_high = band.low.value, band.high.value
    fold = refine_fold(band.low, p)
    hopf_fp = _most_marginal_stable(band.high.fps_stable_side)
    log.info("band [%.9f, %.9f], fold %.9f", band_low, band_high, fold)

    # 3. period divergence just above the lower edge (SNIC: exponent -1/2)
    offsets = np.asarray(edges["divergence_offsets"], dtype=np.float64)
    div, _, _ = sweep_periods(
        band_low + offsets, float(edges["divergence_duration_s"]), crit, dt, p, v0
    )
    fit = fit_divergence_exponent(offsets, div.period_s)

    # 4. one batch for the period curve, contract cues, demo cues and limit cycles
    ps = params["period_sweep"]
    parts = {
        "curve": _grid(ps),
        "contract": np.asarray(CONTRACT_CUES, dtype=np.float64),
        "timecourse": np.asarray(params["timecourse"]["cues"], dtype=np.float64),
        "cycles": np.asarray(params["cycles"]["cues"], dtype=np.float64),
    }
    sizes = np.cumsum([0] + [v.size for v in parts.values()])
    sl = {k: slice(sizes[i], sizes[i + 1]) for i, k in enumerate(parts)}
    batch, _, tail = sweep_periods(
        np.concatenate(list(parts.values())), float(ps["duration_s"]), crit, dt, p, v0
    )
    curve_ms = batch.period_s[sl["curve"]] * 1e3
    curve_osc = batch.oscillating[sl["curve"]]
    cycles = _last_cycles(tail[:, sl["cycles"]], batch.oscillating[sl["cycles"]], crit.prominence)

    tc_cues = parts["timecourse"]
    tc_t, tc_states = integrate_rk4(tc_cues, float(params["timecourse"]["duration_s"]), dt, p, v0)
    tc_fp = np.full((tc_cues.size, 3), np.nan)
    for j, cue in enumerate(tc_cues):
        stable = [f for f in fixed_points(float(cue), rng, fp_settings, p) if f.stable]
        if stable:  # the stable equilibrium the long run ends nearest to
            end = tail[-1, sl["timecourse"]][j]
            tc_fp[j] = min(stable, key=lambda f: np.abs(f.state - end).max()).state

    inside = int(np.searchsorted(grid, band_low))  # first grid cue above the lower edge
    contract_ms = batch.period_s[sl["contract"]] * 1e3
    metrics: dict[str, Any] = {
        "band_low": band_low,
        "band_high": band_high,
        **{f"period_ms_at_{c}": float(contract_ms[i]) for i, c in enumerate(CONTRACT_CUES)},
        "band_tol": float(edges["tol"]),
        "band_low_fold": fold,
        "hopf_frequency_hz": band.hopf_frequency_hz,
        "hopf_period_ms": 1e3 / band.hopf_frequency_hz,
        "lower_edge_period_exponent": fit["exponent"],
        "n_fixed_points_below_band": int(fps.n_at_cue[inside - 1]),
        "n_fixed_points_in_band": int(fps.n_at_cue[inside]),
        "band_low_sweep": float(grid[osc].min()) if osc.any() else None,
        "band_high_sweep": float(grid[osc].max()) if osc.any() else None,
        "original_rule_band_low": float(grid[rule].min()) if rule.any() else None,
        "original_rule_band_high": float(grid[rule].max()) if rule.any() else None,
        "original_rule_agreement": float(np.mean(rule == osc)),
        "n_bifurcation_cues": int(grid.size),
        "seconds": time.perf_counter() - start,
    }
    rows = [
        {
            "i_cc": batch.i_cc[k],
            "period_ms": batch.period_s[k] * 1e3,
            "oscillating": bool(batch.oscillating[k]),
            "amplitude_z": batch.amplitude[k],
            "n_peaks": int(batch.n_peaks[k]),
            "interval_cv": batch.interval_cv[k],
        }
        for k in range(sl["curve"].start, sl["curve"].stop)
    ]
    arrays = {
        "populations": np.array(POPULATIONS),
        "kind_names": np.array(KIND_NAMES),
        "dt_s": np.float64(dt),
        "band_low": np.float64(band_low),
        "band_high": np.float64(band_high),
        "timecourse_t_s": tc_t,
        "timecourse_cues": tc_cues,
        "timecourse_states": tc_states,  # (n_t, n_cues, 3)
        "timecourse_oscillating": batch.oscillating[sl["timecourse"]],
        "timecourse_period_ms": batch.period_s[sl["timecourse"]] * 1e3,
        "timecourse_fixed_point": tc_fp,  # stable equilibrium reached (NaN if none)
        "period_i_cc": parts["curve"],
        "period_ms": curve_ms,
        "period_oscillating": curve_osc,
        "bif_i_cc": grid,
        "bif_oscillating": osc,
        "bif_original_rule": rule,
        "bif_z_max": bif_sim.z_max,
        "bif_z_min": bif_sim.z_min,
        "bif_n_fixed_points": fps.n_at_cue,
        "fp_i_cc": fps.i_cc,
        "fp_state": fps.state,
        "fp_eigenvalues": fps.eigenvalues,
        "fp_stable": fps.stable,
        "fp_kind": fps.kind,
        "fp_branch": fps.branch,
        "hopf_state": hopf_fp.state,
        "fold_state": _most_marginal_stable(band.low.fps_stable_side).state,
        "cycle_cues": parts["cycles"],
        "cycle_states": cycles,  # (n_cues, L, 3), last full cycle, NaN-padded
        "cycle_period_ms": batch.period_s[sl["cycles"]] * 1e3,
        "divergence_offsets": offsets,
        "divergence_period_ms": div.period_s * 1e3,
        "divergence_fit": np.array([fit["exponent"], fit["a"], fit["b"]]),
    }
    write_csv(curve_csv_path, rows, CURVE_COLUMNS)
    atomic_write_npz(arrays_npz_path, arrays)
    write_json(metrics_path, metrics)
    log.info("reduced model done in %.1f s", metrics["seconds"])
    return metrics
