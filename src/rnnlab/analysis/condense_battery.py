"""The "same solution?" battery for Cue-Set-Go networks (reference condense.md §1.1, §3).

Each measure is a pure function on arrays, tested on constructed cases with known answers:

- behaviour: slope/intercept of produced vs target interval, BIAS, VAR, RMSE, MARE,
  no-cross rate (Jazayeri & Shadlen 2010 definitions);
- scaling index SI (Wang 2018): R² across conditions of time-normalised responses,
  ``SI = 1 − Σ_t Σ_b (z_b − z̄)² / Σ_t Σ_b (z_b − ⟨z⟩)²`` per PC; a pure ramp scores 1, so it
  is always reported with
- the linear-unit fraction (cross-validated polynomial order ≤ 1 with R² ≥ 0.5) and the
  participation ratio PR = (Σλ)² / Σλ² of the Set→Tp rates;
- the speed–interval law log S = A − B log T in the top-PC space (B ≈ 1: speed ∝ 1/T);
- linear CKA (Kornblith et al. 2019) and the Procrustes distance (Williams et al. 2021,
  α = 1; widths zero-padded; ``scipy.linalg.orthogonal_procrustes``) between
  condition × time aligned rates of two networks;
- fixed points per cue level (Set = 0) with the effective time constant
  τ_eff = τ / (−Re λ_max) at the terminal fixed point (the one the post-Set trajectory
  settles to) and at the initial one (where the state waits before Set).

:func:`classify_solution` turns these into a label: ``scaling`` (Wang-like: scaled
trajectories, speed ∝ 1/T, few linear units, PR above a floor), ``ramp`` (SI and speed
law pass but the population is a low-dimensional integrator of linear ramps),
``non-scaling`` or ``failed`` (timing error too large).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy.linalg import orthogonal_procrustes

from rnnlab.analysis.fixed_points import ctrnn_field, find_fixed_points, sample_states
from rnnlab.models.ctrnn import CTRNN
from rnnlab.tasks.cue_set_go import CSGTaskConfig, eval_trials, produced_intervals_ms

SOLUTION_CLASSES = ("scaling", "ramp", "non-scaling", "failed")


# --- behaviour ---------------------------------------------------------------------------
def behaviour_metrics(target_ms: np.ndarray, produced_ms: np.ndarray) -> dict[str, Any]:
    """Produced-vs-target statistics. ``produced_ms`` is (n_cond,) or (n_rep, n_cond), NaN =
    no crossing. MARE counts a no-cross trial as 100 % error; the rest use crossings only."""
    ts = np.asarray(target_ms, dtype=np.float64).ravel()
    tp = np.atleast_2d(np.asarray(produced_ms, dtype=np.float64))
    if tp.shape[-1] != ts.size:
        raise ValueError("behaviour_metrics: produced_ms must end with n_cond = len(target_ms)")
    finite = np.isfinite(tp)
    rel = np.where(finite, np.minimum(np.abs(tp - ts) / ts, 1.0), 1.0)
    with np.errstate(invalid="ignore"):
        mean_tp = np.array(
            [np.mean(tp[finite[:, c], c]) if finite[:, c].any() else np.nan for c in range(ts.size)]
        )
        var_tp = np.array(
            [
                np.var(tp[finite[:, c], c]) if finite[:, c].sum() > 1 else np.nan
                for c in range(ts.size)
            ]
        )
    ok = np.isfinite(mean_tp)
    slope = intercept = np.nan
    if ok.sum() >= 2:
        slope, intercept = np.polyfit(ts[ok], mean_tp[ok], 1)
    bias = float(np.sqrt(np.mean((mean_tp[ok] - ts[ok]) ** 2))) if ok.any() else np.nan
    var = float(np.nanmean(var_tp)) if np.isfinite(var_tp).any() else np.nan
    return {
        "mare": float(np.mean(rel)),
        "slope": float(slope),
        "intercept_ms": float(intercept),
        "bias_ms": bias,
        "var_ms2": var,
        "rmse_ms": float(np.sqrt(bias**2 + (var if np.isfinite(var) else 0.0)))
        if np.isfinite(bias)
        else np.nan,
        "no_cross_rate": float(1.0 - finite.mean()),
        "mean_produced_ms": mean_tp,
    }


# --- scaling measures --------------------------------------------------------------------
def time_normalise(trajectories: list[np.ndarray], n_bins: int) -> np.ndarray:
    """Resample each (T_b, D) trajectory onto ``n_bins`` points of normalised time [0, 1]."""
    if n_bins < 2:
        raise ValueError("time_normalise: n_bins must be >= 2")
    out = []
    grid = np.linspace(0.0, 1.0, n_bins)
    for tr in trajectories:
        a = np.asarray(tr, dtype=np.float64)
        a = a[:, None] if a.ndim == 1 else a
        if a.shape[0] < 2:
            raise ValueError("time_normalise: each trajectory needs >= 2 samples")
        src = np.linspace(0.0, 1.0, a.shape[0])
        out.append(np.stack([np.interp(grid, src, a[:, d]) for d in range(a.shape[1])], -1))
    return np.stack(out)  # (B, n_bins, D)


def scaling_index(z: np.ndarray) -> float:
    """SI of one dimension: ``z`` (n_cond, n_bins) already time-normalised (Wang 2018)."""
    z = np.asarray(z, dtype=np.float64)
    resid = np.sum((z - z.mean(0, keepdims=True)) ** 2)
    total = np.sum((z - z.mean()) ** 2)
    return float(1.0 - resid / total) if total > 0 else float("nan")


def _pca(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, the top-k components (k, D) and all explained variances of rows of ``x``."""
    mean = x.mean(0)
    _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    var = s**2 / max(x.shape[0] - 1, 1)
    return mean, vt[:k], var


def participation_ratio(x: np.ndarray) -> float:
    """PR = (Σλ)² / Σλ² of the covariance of the rows of ``x`` (samples, N)."""
    x = np.asarray(x, dtype=np.float64)
    lam = np.linalg.svd(x - x.mean(0), compute_uv=False) ** 2
    return float(lam.sum() ** 2 / np.sum(lam**2)) if np.sum(lam**2) > 0 else 0.0


def scaling_indices(
    trajectories: list[np.ndarray], n_pcs: int, n_bins: int, *, center_conditions: bool = True
) -> dict[str, Any]:
    """SI of the top PCs of the pooled Set→Tp rates; the variance-weighted mean over them.

    With ``center_conditions`` each condition's time-normalised profile is centred before
    the SI, so a tonic, cue-dependent offset (Wang's non-scaling *input subspace* level)
    does not count against scaling; only the time course does.
    """
    pooled = np.concatenate(trajectories, 0)
    mean, comps, var = _pca(pooled, n_pcs)
    k = comps.shape[0]
    proj = [(np.asarray(t) - mean) @ comps.T for t in trajectories]
    z = time_normalise(proj, n_bins)
    if center_conditions:
        z = z - z.mean(1, keepdims=True)
    si = np.array([scaling_index(z[:, :, i]) for i in range(k)])
    w = var[:k] / var[:k].sum() if var[:k].sum() > 0 else np.ones(k) / k
    ok = np.isfinite(si)
    return {
        "si_pcs": si,
        "si_mean": float(np.sum(w[ok] * si[ok]) / np.sum(w[ok])) if ok.any() else float("nan"),
        "pc_variance_fraction": var[:k] / var.sum() if var.sum() > 0 else np.zeros(k),
    }


def linear_unit_fraction(
    trajectories: list[np.ndarray],
    n_bins: int,
    *,
    max_order: int = 8,
    r2_min: float = 0.5,
    min_std: float = 1e-3,
) -> dict[str, float]:
    """Fraction of modulated units whose time-normalised response is linear (Wang 2018).

    Per unit, polynomials of order 0…``max_order`` in normalised time are fitted to the
    responses of even-indexed conditions and scored on odd ones and vice versa; a unit is
    linear when the best cross-validated order (the lowest within 1 % of the minimum
    error) is ≤ 1 and the order-1 fit explains
    ≥ ``r2_min`` of its variance. Units with s.d. < ``min_std`` are silent, not counted.
    """
    z = time_normalise(trajectories, n_bins)  # (B, n_bins, N)
    n_cond = z.shape[0]
    if n_cond < 2:
        raise ValueError("linear_unit_fraction: needs >= 2 conditions for cross-validation")
    x = np.tile(np.linspace(0.0, 1.0, n_bins), n_cond).reshape(n_cond, n_bins)
    folds = [(np.arange(0, n_cond, 2), np.arange(1, n_cond, 2))]
    folds.append((folds[0][1], folds[0][0]))
    n_lin = n_active = 0
    for u in range(z.shape[2]):
        y = z[:, :, u]
        if y.std() < min_std:
            continue
        n_active += 1
        err = np.zeros(max_order + 1)
        for tr, te in folds:
            for order in range(max_order + 1):
                coef = np.polyfit(x[tr].ravel(), y[tr].ravel(), order)
                err[order] += np.mean((np.polyval(coef, x[te].ravel()) - y[te].ravel()) ** 2)
        coef1 = np.polyfit(x.ravel(), y.ravel(), 1)
        r2 = 1.0 - np.mean((np.polyval(coef1, x.ravel()) - y.ravel()) ** 2) / y.var()
        # parsimony: the lowest order within 1 % of the best CV error (exact fits tie)
        best = int(np.nonzero(err <= err.min() * 1.01 + 1e-12 * y.var())[0][0])
        if best <= 1 and r2 >= r2_min:
            n_lin += 1
    return {
        "linear_fraction": float(n_lin / n_active) if n_active else float("nan"),
        "n_active_units": float(n_active),
    }


def speed_interval_law(
    trajectories: list[np.ndarray], intervals_ms: np.ndarray, dt_ms: float, n_pcs: int = 3
) -> dict[str, float]:
    """Fit log S = A − B log T; S = mean speed (per ms) in the top-``n_pcs`` PC space."""
    pooled = np.concatenate(trajectories, 0)
    mean, comps, _ = _pca(pooled, n_pcs)
    speeds = []
    for tr in trajectories:
        p = (np.asarray(tr) - mean) @ comps.T
        speeds.append(np.mean(np.linalg.norm(np.diff(p, axis=0), axis=1)) / dt_ms)
    speeds = np.asarray(speeds)
    iv = np.asarray(intervals_ms, dtype=np.float64)
    ok = (speeds > 0) & np.isfinite(iv)
    if ok.sum() < 2:
        return {"speed_slope_b": float("nan"), "speed_r2": float("nan")}
    lx, ly = np.log(iv[ok]), np.log(speeds[ok])
    slope, icpt = np.polyfit(lx, ly, 1)
    pred = slope * lx + icpt
    ss = np.sum((ly - ly.mean()) ** 2)
    r2 = 1.0 - np.sum((ly - pred) ** 2) / ss if ss > 0 else float("nan")
    return {"speed_slope_b": float(-slope), "speed_r2": float(r2)}


# --- representational similarity --------------------------------------------------------
def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA ‖YᵀX‖²_F / (‖XᵀX‖_F ‖YᵀY‖_F) on column-centred (samples, features) data."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape[0] != y.shape[0]:
        raise ValueError("linear_cka: x and y must have the same number of samples (rows)")
    x = x - x.mean(0)
    y = y - y.mean(0)
    denom = np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y)
    return float(np.linalg.norm(y.T @ x) ** 2 / denom) if denom > 0 else float("nan")


def procrustes_distance(x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Rotation-invariant shape distance between (samples, features) arrays.

    Both are centred and scaled to unit Frobenius norm, the narrower is zero-padded, and
    ``min_Q ‖X − Y Q‖_F`` over orthogonal Q is returned (``euclidean``, in [0, 2]) with the
    angular form ``arccos(‖XᵀY‖_*)`` (``angular``, radians in [0, π/2]; Williams et al.).
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape[0] != y.shape[0]:
        raise ValueError("procrustes_distance: x and y must have the same number of rows")
    x = x - x.mean(0)
    y = y - y.mean(0)
    nx, ny = np.linalg.norm(x), np.linalg.norm(y)
    if nx == 0 or ny == 0:
        return {"euclidean": float("nan"), "angular": float("nan")}
    x, y = x / nx, y / ny
    width = max(x.shape[1], y.shape[1])
    x = np.pad(x, ((0, 0), (0, width - x.shape[1])))
    y = np.pad(y, ((0, 0), (0, width - y.shape[1])))
    q, nuclear = orthogonal_procrustes(y, x)
    return {
        "euclidean": float(np.linalg.norm(x - y @ q)),
        "angular": float(np.arccos(np.clip(nuclear, -1.0, 1.0))),
    }


# --- network runs ------------------------------------------------------------------------
@dataclass
class CSGRun:
    """A noise-free run of a network on evaluation trials."""

    interval_ms: np.ndarray  # (C,)
    cue_level: np.ndarray  # (C,)
    set_step: np.ndarray  # (C,)
    output: np.ndarray  # (C, T)
    rates: np.ndarray  # (C, T, N)
    states: np.ndarray  # (C, T, N)
    produced_ms: np.ndarray  # (C,)


@torch.no_grad()
def run_network(
    model: CTRNN, task: CSGTaskConfig, intervals_ms: np.ndarray, window_factor: float = 2.0
) -> CSGRun:
    """Noise-free evaluation trials (mid delay), outputs, rates and states."""
    batch = eval_trials(task, intervals_ms, window_factor)
    model.eval()
    out, rates, states = model(batch.inputs, return_states=True)
    output = out[..., 0].double().numpy()
    return CSGRun(
        interval_ms=batch.interval_ms,
        cue_level=batch.cue_level,
        set_step=batch.set_step,
        output=output,
        rates=rates.double().numpy(),
        states=states.double().numpy(),
        produced_ms=produced_intervals_ms(output, batch.set_step, task.threshold, task.dt_ms),
    )


@torch.no_grad()
def noisy_produced(
    model: CTRNN, task: CSGTaskConfig, intervals_ms: np.ndarray, repeats: int, seed: int
) -> np.ndarray:
    """Produced intervals (repeats, C) with recurrent (and cue) noise, seeded."""
    batch = eval_trials(task, np.tile(np.asarray(intervals_ms, dtype=np.float64), repeats))
    gen = torch.Generator().manual_seed(int(seed))
    inputs = batch.inputs
    if task.cue_noise_std > 0:
        on = (inputs[..., 0] != 0).float()
        noise = torch.randn(inputs.shape[:2], generator=gen) * task.cue_noise_std
        inputs = inputs.clone()
        inputs[..., 0] += noise * on
    model.eval()
    out, _ = model(inputs, noise_generator=gen)
    tp = produced_intervals_ms(
        out[..., 0].double().numpy(), batch.set_step, task.threshold, task.dt_ms
    )
    return tp.reshape(repeats, -1)


def set_to_tp(run: CSGRun, dt_ms: float, key: str = "rates") -> list[np.ndarray]:
    """Per-condition segments from Set to the produced time (target time if no crossing)."""
    arr = getattr(run, key)
    segs = []
    for c in range(arr.shape[0]):
        s = int(run.set_step[c])
        tp = run.produced_ms[c] if np.isfinite(run.produced_ms[c]) else run.interval_ms[c]
        n = max(int(round(tp / dt_ms)), 2)
        segs.append(arr[c, s : s + n + 1])
    return segs


def aligned_rates(run: CSGRun, dt_ms: float, stride: int) -> np.ndarray:
    """Condition × time aligned rates for CKA/Procrustes: from Set to the *target* time
    of every condition, every ``stride`` steps, stacked (samples, N). Independent of the
    network, so two networks run on the same trials give rows that correspond."""
    rows = []
    for c in range(run.rates.shape[0]):
        s = int(run.set_step[c])
        n = int(round(run.interval_ms[c] / dt_ms))
        rows.append(run.rates[c, s : s + n + 1 : stride])
    return np.concatenate(rows, 0)


# --- fixed points ------------------------------------------------------------------------
@dataclass(frozen=True)
class FixedPointSettings:
    """The ``condense.battery.fixed_points`` params section."""

    n_cues: int
    n_starts: int
    jitter: float
    adam_steps: int
    polish_steps: int
    max_candidates: int
    seed: int

    @classmethod
    def from_params(cls, section: dict[str, Any]) -> FixedPointSettings:
        return cls(**section)


def fixed_points_per_cue(
    model: CTRNN, task: CSGTaskConfig, cues: np.ndarray, settings: FixedPointSettings
) -> dict[str, Any]:
    """Fixed points at each cue level with Set = 0, and τ_eff at F_init and F_terminal.

    Starts are states of a long noise-free run at that cue (before Set and after it, up to
    3 × the cue's interval). F_terminal is the fixed point nearest the run's final state;
    F_init the one nearest the state just before Set. τ_eff = τ / (−Re λ_max) in ms (NaN if
    that point is not stable or none was found).
    """
    cues = np.asarray(cues, dtype=np.float64)
    span = task.cue_interval_max_ms - task.cue_interval_min_ms
    intervals = (
        task.cue_interval_min_ms + (cues - task.cue_min) / (task.cue_max - task.cue_min) * span
    )
    intervals = np.maximum(intervals, 50.0)
    run = run_network(model, task, intervals, window_factor=3.0)
    tau_ms = float(np.min(np.atleast_1d(model.config.tau))) * 1000.0
    gen = torch.Generator().manual_seed(int(settings.seed))
    out: dict[str, list] = {
        "cue": [],
        "n_fixed": [],
        "n_stable": [],
        "tau_eff_terminal_ms": [],
        "tau_eff_init_ms": [],
        "terminal_stable": [],
        "init_terminal_distinct": [],
        "classes": [],
        "points_pc": [],
    }
    for c, cue in enumerate(cues):
        field = ctrnn_field(model, [float(cue), 0.0])
        s = int(run.set_step[c])
        states = run.states[c, max(s - 50, 0) :]
        starts = sample_states(states, settings.n_starts, generator=gen)
        res = find_fixed_points(
            field,
            starts,
            generator=gen,
            jitter=settings.jitter,
            adam_steps=settings.adam_steps,
            polish_steps=settings.polish_steps,
            slow_steps=0,
            max_candidates=settings.max_candidates,
            q_tol=1e-10,
        )
        final, pre = run.states[c, -1], run.states[c, s - 1]
        stable = np.array([k.startswith("stable") for k in res.classes], dtype=bool)

        def tau_near(x: np.ndarray, res=res, stable=stable) -> tuple[float, int]:
            if len(res) == 0:
                return float("nan"), -1
            i = int(np.argmin(np.linalg.norm(res.points - x, axis=1)))
            lead = float(res.eigenvalues[i][0].real)
            return (tau_ms / -lead if stable[i] and lead < 0 else float("nan")), i

        tau_t, it = tau_near(final)
        tau_i, ii = tau_near(pre)
        out["cue"].append(float(cue))
        out["n_fixed"].append(len(res))
        out["n_stable"].append(int(stable.sum()))
        out["tau_eff_terminal_ms"].append(tau_t)
        out["tau_eff_init_ms"].append(tau_i)
        out["terminal_stable"].append(bool(it >= 0 and stable[it]))
        out["init_terminal_distinct"].append(bool(it >= 0 and ii >= 0 and it != ii))
        out["classes"].append(list(res.classes))
        out["points_pc"].append(res.points)
    tau_t = np.asarray(out["tau_eff_terminal_ms"], dtype=np.float64)
    ok = np.isfinite(tau_t)
    rho = float("nan")
    if ok.sum() >= 3:
        from scipy.stats import spearmanr

        rho = float(spearmanr(cues[ok], tau_t[ok]).statistic)
    out_summary = {k: v for k, v in out.items() if k != "points_pc"}
    out_summary["tau_eff_cue_spearman"] = rho
    out_summary["points"] = out["points_pc"]
    return out_summary


# --- classification ----------------------------------------------------------------------
@dataclass(frozen=True)
class ClassifySettings:
    """The ``condense.battery.classify`` params section (thresholds, documented in NOTES)."""

    max_mare: float
    min_si: float
    min_speed_slope: float
    max_linear_fraction: float
    min_participation_ratio: float

    @classmethod
    def from_params(cls, section: dict[str, Any]) -> ClassifySettings:
        return cls(**section)


def classify_solution(m: dict[str, Any], th: ClassifySettings) -> str:
    """``failed`` / ``non-scaling`` / ``ramp`` / ``scaling`` from battery metrics ``m``."""
    if not np.isfinite(m["mare"]) or m["mare"] > th.max_mare:
        return "failed"
    si, b = m["si_mean"], m["speed_slope_b"]
    if not (np.isfinite(si) and np.isfinite(b)) or si < th.min_si or b < th.min_speed_slope:
        return "non-scaling"
    lin, pr = m["linear_fraction"], m["participation_ratio"]
    if (np.isfinite(lin) and lin > th.max_linear_fraction) or pr < th.min_participation_ratio:
        return "ramp"
    return "scaling"
