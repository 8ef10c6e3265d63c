"""Fig-5 analogues for the trained ZRNN: regime, fixed points and PC1–PC2 flow field per cue.

rhythm.md §7 describes the original ``plot_fig5.py``; this stage keeps its pictures (a
flow field around the end of a noise-free trajectory at each cue: stable node below the
trained band, limit cycle inside it, focus above) and fixes its weak spots (§13):

* **One PCA, applied consistently.** The net is run noise-free from x = 0 at every cue
  (constant input ``cue`` on the cue channel from t = 0, no pulses) for ``duration_s``.
  Hidden states x (not rates) from ``pca.discard_s`` on, every ``pca.stride_steps``-th
  step, pooled over *all* cues, are centred (and z-scored per unit if
  ``pca.standardize``; silent units keep scale 1) and one PCA is fitted
  (:func:`rnnlab.analysis.flow_fields.fit_pca`). The same preprocessing is applied to
  trajectories, fixed points, the grid and the velocities
  (:class:`~rnnlab.analysis.flow_fields.StatePCA`). The original fitted on z-scored
  states and projected raw ones.
* **The field, not a step.** Arrows are the continuous-time field dx/dt projected on
  PC1–PC2, evaluated on the plane through the trajectory's end state spanned by PC1 and
  PC2 (all other PC coordinates are those of the end state); nothing evolves between
  panels. Velocities and speeds are in 1/s (x is dimensionless); the speed is ‖dx/dt‖ in
  the full state space.
* **Fixed points from a finder**, not heuristic initial conditions: ½‖F(x)‖² is minimised
  from ``fixed_points.n_starts`` states drawn from the cue's own trajectory (every
  ``fixed_points.stride_steps``-th state, N(0, jitter²) added; the end state is always
  one extra start), with a ``torch.Generator`` seeded by ``seed`` afresh for every cue
  (a cue's result does not depend on the other cues in the list). Jacobian eigenvalues
  classify each point (:func:`rnnlab.analysis.fixed_points.classify_eigenvalues`) and
  are reported in 1/s.
* **Regime per cue** from the trajectory and the fixed points
  (:func:`rnnlab.analysis.flow_fields.classify_regime`), or ``diverged`` if the
  trajectory leaves ``|x| <= 1e6``. ``fp_consistent`` checks the regime against the
  linearisation: a stable regime needs the fixed point nearest the end state to be
  stable and of the same class; a limit cycle needs the fixed point nearest the cycle's
  centre (mean of the tail) to be unstable.

Outputs: a metrics JSON (per cue, keyed by the cue as a string), a regimes CSV (one row
per cue) and one bounded npz with everything the figure draws (no object arrays).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch

from rnnlab.analysis.fixed_points import (
    CLASSES,
    STABLE_FOCUS,
    STABLE_NODE,
    FixedPointResult,
    ctrnn_field,
    find_fixed_points,
    sample_states,
)
from rnnlab.analysis.flow_fields import (
    FIXED_POINT,
    LIMIT_CYCLE,
    TRANSIENT,
    StatePCA,
    classify_regime,
    ctrnn_trajectories,
    cue_input,
    fit_pca,
    flow_field,
)
from rnnlab.io import atomic_write_npz, write_csv, write_json
from rnnlab.models.ctrnn import CTRNN

DIVERGED = "diverged"
REGIMES = (STABLE_NODE, STABLE_FOCUS, LIMIT_CYCLE, FIXED_POINT, TRANSIENT, DIVERGED)
STABLE_CLASSES = (STABLE_NODE, STABLE_FOCUS)
REGIME_COLUMNS = [
    "cue",
    "period_s",
    "regime",
    "n_fixed_points",
    "n_slow_points",
    "nearest_class",
    "nearest_distance",
    "lead_eig_real_per_s",
    "lead_eig_imag_per_s",
    "n_unstable",
    "end_speed_per_s",
    "fp_consistent",
]
_DIVERGENCE_BOUND = 1e6
SUB_KEYS: dict[str, tuple[str, ...]] = {  # the sub-sections' keys
    "pca": ("standardize", "discard_s", "stride_steps", "n_components"),
    "fixed_points": (
        "n_starts",
        "stride_steps",
        "jitter",
        "adam_steps",
        "lr",
        "polish_steps",
        "slow_steps",
        "q_tol",
        "slow_tol",
        "dedup_tol",
        "eig_tol",
        "max_candidates",
    ),
    "regime": ("tail_fraction", "settle_rtol", "sustain_ratio", "min_crossings"),
    "grid": ("n_grid", "half_width", "margin"),
}


@dataclass(frozen=True)
class FlowSettings:
    """The ``rhythm.zrnn_flow`` params section (every key required)."""

    device: str
    seed: int
    cues: tuple[float, ...]
    duration_s: float
    trajectory_points: int
    pca: dict[str, Any]
    fixed_points: dict[str, Any]
    regime: dict[str, Any]
    grid: dict[str, Any]

    @classmethod
    def from_params(cls, section: dict[str, Any]) -> FlowSettings:
        names = [f.name for f in fields(cls)]
        missing = [k for k in names if k not in section]
        unknown = [k for k in section if k not in names]
        if missing or unknown:
            raise KeyError(f"zrnn_flow params: missing {missing}, unknown {unknown}")
        for sub, keys in SUB_KEYS.items():
            lost = [k for k in keys if k not in section[sub]]
            extra = [k for k in section[sub] if k not in keys]
            if lost or extra:
                raise KeyError(f"zrnn_flow.{sub} params: missing {lost}, unknown {extra}")
        cues = tuple(float(c) for c in section["cues"])
        if not cues:
            raise ValueError("zrnn_flow: cues must not be empty")
        if len({cue_key(c) for c in cues}) != len(cues):
            raise ValueError(f"zrnn_flow: cues must be distinct, got {list(cues)}")
        if not 0 <= float(section["pca"]["discard_s"]) < float(section["duration_s"]):
            raise ValueError("zrnn_flow: need 0 <= pca.discard_s < duration_s")
        values = {k: section[k] for k in names}
        values["cues"] = cues
        return cls(**values)


def cue_key(cue: float) -> str:
    """The cue as a JSON key: shortest round-trip form (``-0.5``, ``0.1``, ``2.0``)."""
    return repr(float(cue))


# ---------------------------------------------------------------------------------------------
# per-cue pieces


def _valid_prefix(traj: np.ndarray) -> tuple[np.ndarray, bool]:
    """The trajectory up to its last state before it leaves the bound; whether it did."""
    ok = np.isfinite(traj).all(-1) & (np.abs(traj).max(-1, initial=0.0) <= _DIVERGENCE_BOUND)
    if ok.all():
        return traj, False
    first_bad = int(np.argmin(ok))
    return traj[: max(first_bad, 1)], True


@contextmanager
def _lapack_single_thread() -> Iterator[None]:
    """Run torch on one CPU thread inside the block, then restore the thread count.

    Work-around: with torch 2.13.0+cpu (MKL 2024.2), once ``torch.set_num_threads(n >= 2)``
    has been called before the first LAPACK call, batched ``torch.linalg.solve`` on
    ~200 × 200 systems fails ("Pivots given to lu_solve must all be greater or equal to
    1"). The finder's solves are small, so one thread costs little.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _numpy_blas_single_thread() -> AbstractContextManager[Any]:
    """NumPy's OpenBLAS on one thread (torch untouched) while torch's OpenMP threads spin.

    With both pools on the same 2 cores, each of ``classify_regime``'s small SVDs took
    ~0.7 s instead of 0.04 s (oversubscription); single-threaded they are fast.
    """
    try:
        from threadpoolctl import threadpool_info, threadpool_limits  # comes with scikit-learn
    except ImportError:  # pragma: no cover
        return nullcontext()
    # by library prefix: a user_api="blas" limit would also reset a dynamically linked MKL
    prefixes = {i["prefix"] for i in threadpool_info() if i["internal_api"] == "openblas"}
    return threadpool_limits(limits=dict.fromkeys(prefixes, 1)) if prefixes else nullcontext()


def _nearest(fps: FixedPointResult, state: np.ndarray) -> tuple[int, float]:
    """Index of the fixed point nearest ``state`` and its distance (−1, NaN if none)."""
    if len(fps) == 0:
        return -1, math.nan
    dist = np.linalg.norm(fps.points - state, axis=-1)
    i = int(np.argmin(dist))
    return i, float(dist[i])


def fp_consistent(regime: str, fps: FixedPointResult, traj: np.ndarray, tail: int) -> bool:
    """Whether the regime agrees with the fixed points' linearisation (module docstring)."""
    if regime in STABLE_CLASSES:
        i, _ = _nearest(fps, traj[-1])
        return i >= 0 and fps.classes[i] == regime
    if regime == LIMIT_CYCLE:
        i, _ = _nearest(fps, traj[-tail:].mean(0))
        return i >= 0 and int(fps.n_unstable[i]) > 0
    return False


def _half_width(pca: StatePCA, traj: np.ndarray, center: np.ndarray, grid: dict) -> np.ndarray:
    """Grid half-widths (PC1, PC2): fixed, or ``margin`` × the drawn trajectory's extent."""
    if float(grid["half_width"]) > 0:
        return np.full(2, float(grid["half_width"]))
    dev = np.abs(pca.transform(traj)[:, :2] - center).max(0) * float(grid["margin"])
    return np.where(dev > 1e-9, dev, 1.0)


@dataclass
class CueFlow:
    """Everything computed at one cue (states in model units, rates in 1/s)."""

    cue: float
    regime: str
    fixed_points: FixedPointResult
    eig_per_s: np.ndarray  # (K, N) eigenvalues of each fixed point, 1/s
    time_unit_s: float
    end_state: np.ndarray
    end_speed_per_s: float
    nearest_index: int
    nearest_distance: float
    consistent: bool
    diverged: bool
    pc1: np.ndarray
    pc2: np.ndarray
    velocity_per_s: np.ndarray  # (G, G, 2)
    speed_per_s: np.ndarray  # (G, G)


def analyse_cue(
    model: CTRNN,
    cue: float,
    traj: np.ndarray,
    pca: StatePCA,
    settings: FlowSettings,
) -> CueFlow:
    """Fixed points, regime and flow field at one cue from its trajectory (T, N)."""
    fp_cfg, reg_cfg = settings.fixed_points, settings.regime
    traj, diverged = _valid_prefix(traj)
    field = ctrnn_field(model, cue_input(cue, model.config.n_input))
    gen = torch.Generator().manual_seed(int(settings.seed))
    starts = sample_states(
        traj[:: int(fp_cfg["stride_steps"])],
        int(fp_cfg["n_starts"]),
        generator=gen,
        noise_std=float(fp_cfg["jitter"]),
    )
    starts = torch.cat([torch.as_tensor(traj[-1:], dtype=starts.dtype), starts])
    with _lapack_single_thread():
        fps = find_fixed_points(
            field,
            starts,
            generator=gen,
            adam_steps=int(fp_cfg["adam_steps"]),
            lr=float(fp_cfg["lr"]),
            polish_steps=int(fp_cfg["polish_steps"]),
            slow_steps=int(fp_cfg["slow_steps"]),
            q_tol=float(fp_cfg["q_tol"]),
            slow_tol=float(fp_cfg["slow_tol"]),
            dedup_tol=float(fp_cfg["dedup_tol"]),
            eig_tol=float(fp_cfg["eig_tol"]),
            max_candidates=int(fp_cfg["max_candidates"]),
        )
    tail = max(8, int(round(traj.shape[0] * float(reg_cfg["tail_fraction"]))))
    if diverged:
        regime = DIVERGED
    else:
        regime = classify_regime(
            traj,
            fps,
            tail_fraction=float(reg_cfg["tail_fraction"]),
            settle_rtol=float(reg_cfg["settle_rtol"]),
            sustain_ratio=float(reg_cfg["sustain_ratio"]),
            min_crossings=int(reg_cfg["min_crossings"]),
        )
    end = traj[-1]
    nearest, distance = _nearest(fps, end)
    center = pca.transform(end)[:2]
    flow = flow_field(
        field,
        pca,
        end,
        half_width=tuple(_half_width(pca, traj, center, settings.grid)),
        n_grid=int(settings.grid["n_grid"]),
    )
    unit = field.time_unit_s
    with torch.no_grad():
        end_speed = float(torch.linalg.vector_norm(field(torch.as_tensor(end[None]))))
    return CueFlow(
        cue=float(cue),
        regime=regime,
        fixed_points=fps,
        eig_per_s=fps.eigenvalues / unit,
        time_unit_s=unit,
        end_state=end,
        end_speed_per_s=end_speed / unit,
        nearest_index=nearest,
        nearest_distance=distance,
        consistent=fp_consistent(regime, fps, traj, tail),
        diverged=diverged,
        pc1=flow.pc1,
        pc2=flow.pc2,
        velocity_per_s=flow.velocity / unit,
        speed_per_s=flow.speed / unit,
    )


def _cue_row(c: CueFlow, cue_scale: float) -> dict[str, Any]:
    fps, i = c.fixed_points, c.nearest_index
    lead = c.eig_per_s[i][0] if i >= 0 else complex(math.nan, math.nan)
    return {
        "cue": c.cue,
        "period_s": cue_scale / c.cue if c.cue > 0 else math.nan,
        "regime": c.regime,
        "n_fixed_points": len(fps),
        "n_slow_points": int(fps.slow_points.shape[0]),
        "nearest_class": fps.classes[i] if i >= 0 else "",
        "nearest_distance": c.nearest_distance,
        "lead_eig_real_per_s": float(lead.real),
        "lead_eig_imag_per_s": float(abs(lead.imag)),
        "n_unstable": int(fps.n_unstable[i]) if i >= 0 else -1,
        "end_speed_per_s": c.end_speed_per_s,
        "fp_consistent": c.consistent,
    }


def _cue_metrics(c: CueFlow, row: dict[str, Any]) -> dict[str, Any]:
    out = {"regime": c.regime, **c.fixed_points.summary()}
    out["max_real_eigenvalue_per_s"] = [float(e[0].real) for e in c.eig_per_s]
    out["lead_imag_eigenvalue_per_s"] = [float(abs(e[0].imag)) for e in c.eig_per_s]
    for key in ("nearest_class", "nearest_distance", "end_speed_per_s", "fp_consistent"):
        out[key] = row[key]
    out["diverged"] = c.diverged
    return out


def _contiguous(cues: np.ndarray, flags: np.ndarray) -> bool:
    """Whether the flagged cues form one unbroken run in cue order (vacuously true if none)."""
    idx = np.flatnonzero(flags[np.argsort(cues)])
    return bool(idx.size == 0 or idx[-1] - idx[0] + 1 == idx.size)


# ---------------------------------------------------------------------------------------------
# the analysis


@dataclass
class FlowResult:
    metrics: dict[str, Any]
    rows: list[dict[str, Any]]
    arrays: dict[str, np.ndarray]


def analyse_flow(
    model: CTRNN, settings: FlowSettings, cue_scale: float, trained_periods_s: tuple[float, ...]
) -> FlowResult:
    """Trajectories, one PCA, fixed points, regimes and flow fields at every cue."""
    with _numpy_blas_single_thread():
        return _analyse_flow(model, settings, cue_scale, trained_periods_s)


def _analyse_flow(
    model: CTRNN, settings: FlowSettings, cue_scale: float, trained_periods_s: tuple[float, ...]
) -> FlowResult:
    cues = np.asarray(settings.cues, dtype=np.float64)
    n_hidden = model.config.n_hidden
    dt = float(model.config.dt)
    n_steps = max(1, int(round(settings.duration_s / dt)))
    inputs = np.stack([cue_input(c, model.config.n_input) for c in cues])
    trajs = ctrnn_trajectories(model, inputs, n_steps, x0=np.zeros(n_hidden))  # (C, T+1, N)

    pca_cfg = settings.pca
    first = min(int(round(float(pca_cfg["discard_s"]) / dt)), n_steps)
    pooled = trajs[:, first :: int(pca_cfg["stride_steps"])].reshape(-1, n_hidden)
    pooled = pooled[np.isfinite(pooled).all(-1) & (np.abs(pooled).max(-1) <= _DIVERGENCE_BOUND)]
    k = max(2, min(int(pca_cfg["n_components"]), n_hidden, pooled.shape[0]))
    pca = fit_pca(pooled, k, standardize=bool(pca_cfg["standardize"]))

    per_cue = [analyse_cue(model, c, trajs[i], pca, settings) for i, c in enumerate(cues)]
    rows = [_cue_row(c, cue_scale) for c in per_cue]

    # trajectories subsampled on one shared time grid (non-finite states stay NaN)
    n_keep = min(int(settings.trajectory_points), n_steps + 1)
    keep = np.unique(np.linspace(0, n_steps, n_keep).round().astype(int))
    with np.errstate(invalid="ignore", over="ignore"):
        traj_pc = pca.transform(np.where(np.isfinite(trajs[:, keep]), trajs[:, keep], np.nan))
    fp_pc, fp_cue, fp_code, fp_nu, fp_re, fp_im = [], [], [], [], [], []
    slow_pc, slow_cue = [], []
    for i, c in enumerate(per_cue):
        fps = c.fixed_points
        if len(fps):
            fp_pc.append(pca.transform(fps.points)[:, :2])
            fp_cue.append(np.full(len(fps), i))
            fp_code.append([CLASSES.index(name) for name in fps.classes])
            fp_nu.append(fps.n_unstable)
            fp_re.append(c.eig_per_s[:, 0].real)
            fp_im.append(np.abs(c.eig_per_s[:, 0].imag))
        if fps.slow_points.shape[0]:
            slow_pc.append(pca.transform(fps.slow_points)[:, :2])
            slow_cue.append(np.full(fps.slow_points.shape[0], i))

    def cat(parts: list, shape: tuple[int, ...], dtype: type) -> np.ndarray:
        return np.concatenate(parts).astype(dtype) if parts else np.zeros(shape, dtype=dtype)

    arrays: dict[str, np.ndarray] = {
        "cues": cues,
        "regime_code": np.array([REGIMES.index(c.regime) for c in per_cue], dtype=np.int8),
        "regime_names": np.array(REGIMES, dtype=str),
        "class_names": np.array(CLASSES, dtype=str),
        "pc1": np.stack([c.pc1 for c in per_cue]),
        "pc2": np.stack([c.pc2 for c in per_cue]),
        "velocity": np.stack([c.velocity_per_s for c in per_cue]).astype(np.float32),
        "speed": np.stack([c.speed_per_s for c in per_cue]).astype(np.float32),
        "center": np.stack([pca.transform(c.end_state)[:2] for c in per_cue]),
        "end_state": np.stack([c.end_state for c in per_cue]),
        "trajectory": traj_pc[..., :2].astype(np.float32),
        "trajectory_t_s": keep * dt,
        "fp_pc": cat(fp_pc, (0, 2), np.float64),
        "fp_cue_index": cat(fp_cue, (0,), np.int32),
        "fp_class_code": cat(fp_code, (0,), np.int8),
        "fp_n_unstable": cat(fp_nu, (0,), np.int32),
        "fp_lead_real_per_s": cat(fp_re, (0,), np.float64),
        "fp_lead_imag_per_s": cat(fp_im, (0,), np.float64),
        "slow_pc": cat(slow_pc, (0, 2), np.float64),
        "slow_cue_index": cat(slow_cue, (0,), np.int32),
        **pca.to_arrays("pca_"),
    }

    oscillating = np.array([c.regime == LIMIT_CYCLE for c in per_cue])
    trained_cues = [cue_scale / p for p in trained_periods_s]
    metrics: dict[str, Any] = {
        "n_cues": int(cues.size),
        "cues": cues.tolist(),
        "regimes": {cue_key(c.cue): c.regime for c in per_cue},
        "oscillating_cues": cues[oscillating].tolist(),
        "oscillating_cue_min": float(cues[oscillating].min()) if oscillating.any() else None,
        "oscillating_cue_max": float(cues[oscillating].max()) if oscillating.any() else None,
        "oscillating_contiguous": _contiguous(cues, oscillating),
        "trained_cue_min": float(min(trained_cues)),
        "trained_cue_max": float(max(trained_cues)),
        "n_fp_consistent": int(sum(c.consistent for c in per_cue)),
        "eigenvalue_unit": "1/s",
        "time_unit_s": per_cue[0].time_unit_s,
        "pca": {
            "fitted_on": "hidden states x, pooled over all cues",
            "standardize": bool(pca_cfg["standardize"]),
            "discard_s": float(pca_cfg["discard_s"]),
            "stride_steps": int(pca_cfg["stride_steps"]),
            "n_samples": int(pooled.shape[0]),
            "n_components": pca.n_components,
            "explained_variance_ratio": pca.explained_variance_ratio.tolist(),
            "pc12_variance_ratio": float(pca.explained_variance_ratio[:2].sum()),
        },
        "per_cue": {cue_key(c.cue): _cue_metrics(c, r) for c, r in zip(per_cue, rows, strict=True)},
    }
    return FlowResult(metrics, rows, arrays)


def zrnn_flow_stage(
    params: dict[str, Any],
    checkpoint_path: str,
    metrics_path: str,
    regimes_csv_path: str,
    flow_npz_path: str,
    threads: int | None = None,
) -> dict[str, Any]:
    """Stage ``zrnn_flow``: the ``rhythm.zrnn_flow`` section and paths in; metrics JSON,
    regimes CSV and the figure npz out. Noise is off throughout."""
    from rnnlab.train.device import pick_device
    from rnnlab.train.zrnn import load_trained_zrnn

    if threads:
        torch.set_num_threads(int(threads))
    start = time.perf_counter()
    settings = FlowSettings.from_params(params)
    model, task, _ = load_trained_zrnn(checkpoint_path, pick_device(settings.device))
    result = analyse_flow(model, settings, float(task.cue_scale), tuple(task.periods_s))
    write_csv(regimes_csv_path, result.rows, REGIME_COLUMNS)
    atomic_write_npz(flow_npz_path, result.arrays)
    metrics = dict(result.metrics, seconds=time.perf_counter() - start)
    write_json(metrics_path, metrics)
    return metrics
