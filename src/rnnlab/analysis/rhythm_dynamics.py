"""Population dynamics of a trained ZRNN on pulse-free drives (rhythm.md §5.2, §7, §15 d-e).

Input: for each trained period P (``periods_s``, shape (K,)) the rates (K, T, N) and outputs
(K, T) of a pulse-free drive after the transient, ``dt_s`` and ``n_excitatory`` (units
0..n_e-1 are E, the rest I). Taps are the output peaks of :func:`rnnlab.tasks.taps.detect_taps`.

Conventions (each fixes a weak spot of the original ``plot_fig1``, rhythm.md §13):

* **Normalisation.** Rates are min-max normalised per unit over the analysed run of each tempo
  (``per_tempo``, as the original) or over all tempos together (``global``). A unit whose
  peak-to-peak rate is <= ``silence_threshold`` is *silent* (no modulated activity): its
  normalised row is 0, its lag is NaN (never a sentinel such as -1) and it sorts last.
* **Lag.** For each tap t_k whose window fits in the run, the unit's lag is (time of the unit's
  maximum within [t_k - ITI/2, t_k + ITI/2)) - t_k, with ITI the median inter-tap interval.
  Lags are expressed as cycle fractions ``lag_phase`` in [-0.5, 0.5). The unit's lag is the
  *circular* median over cycles: phases are unwrapped around their circular mean, the ordinary
  median is taken, and the result is wrapped back. A unit peaking half-way between taps (whose
  per-cycle lags flip between -0.5 and +0.5) thus gets |lag_phase| ~ 0.5, not the meaningless
  ~0 that a plain median gives.
* **Raster order.** E units first, then I; inside each group by ``lag_phase mod 1``, i.e. the
  cycle read from one tap to the next: units peaking at or just after the tap first, units
  peaking just before the next tap (negative lag) last. This equals the original's "lag >= 0
  ascending, then lag < 0 ascending". Silent units come last in their group; ties keep the
  unit index order (stable sort).
* **Unit phase and classes** (rhythm.md §7): phase = |lag_phase| in [0, 0.5], the distance to
  the nearest tap in cycles. phase < ``tap_phase_threshold`` makes a *tap* unit; with the E/I
  type this gives ``tap_E``, ``tap_I``, ``inter_tap_I``, ``inter_tap_E``; silent units are
  ``silent``, and units of a tempo without usable taps are ``unphased``. (The original used one
  ITI and 0 < phase, the 0 excluding silent units whose argmax is 0; here silence is explicit.)
* **Trajectory length** per cycle = sum of Euclidean step lengths in the full normalised-rate
  space from one tap sample to the next (taps rounded to samples); cycles whose end lies outside
  the run are dropped, never filled with a stale value. SD across cycles uses ddof = 1.
* **"Falls with tempo"**: with tempos ordered slow to fast, each value is at most
  (1 + ``falls_tolerance``) times the previous one plus twice the combined standard error of
  the two estimates (SE of a mean: SD/√n; of an SD: SD/√(2(n−1))), so a rise that sampling
  noise explains is not a violation; the fastest must be strictly below the slowest, and any
  NaN (e.g. a tempo without taps) makes it false.
* **PCA** is fitted once on the stacked normalised rates of all tempos with scikit-learn's
  IncrementalPCA (fed chunk by chunk, so the stack is never materialised), with deterministic
  component signs.

Only what the figures need is written: a raster window of a few cycles (float16), PCA
projections of a few cycles per tempo, subsampled (float16), per-cycle lengths; never the
hidden states wholesale.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.stats import rankdata
from sklearn.decomposition import IncrementalPCA

from rnnlab.io import atomic_write_npz, write_csv, write_json
from rnnlab.params import section_values
from rnnlab.tasks.taps import TapDetector, detect_taps

NORMALISATIONS = ("per_tempo", "global")
UNIT_CLASSES = ("tap_E", "tap_I", "inter_tap_I", "inter_tap_E", "silent", "unphased")
CYCLE_COLUMNS = [
    "period_s",
    "frequency_hz",
    "reference",
    "oscillating",
    "n_taps",
    "n_cycles",
    "median_iti_s",
    "length_mean",
    "length_sd",
    "n_silent",
]
_CHUNK = 8192


@dataclass(frozen=True)
class DynamicsSettings:
    """The ``rhythm.zrnn_dynamics`` params section (all keys required)."""

    reference_period_s: float
    first_tap: int
    raster_cycles: int
    normalisation: str
    silence_threshold: float
    pca_components: int
    pca_cycles: int
    pca_stride_steps: int
    tap_phase_threshold: float
    falls_tolerance: float

    @classmethod
    def from_params(cls, section: dict[str, Any]) -> DynamicsSettings:
        settings = cls(**section_values(cls, section, "zrnn_dynamics params"))
        if settings.normalisation not in NORMALISATIONS:
            raise ValueError(f"normalisation must be one of {NORMALISATIONS}")
        return settings


# ---------------------------------------------------------------------------------------------
# normalisation


def unit_ranges(rates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-unit min and max over time of rates (T, N) or (K, T, N)."""
    axes = tuple(range(rates.ndim - 1))
    return rates.min(axis=axes).astype(np.float64), rates.max(axis=axes).astype(np.float64)


def silent_units(rates: np.ndarray, threshold: float) -> np.ndarray:
    """Units whose peak-to-peak rate over time is <= ``threshold`` (no modulated activity)."""
    lo, hi = unit_ranges(rates)
    return (hi - lo) <= threshold


def minmax_normalise(
    rates: np.ndarray,
    threshold: float,
    lo: np.ndarray | None = None,
    hi: np.ndarray | None = None,
) -> np.ndarray:
    """Min-max normalise rates (T, N) per unit to [0, 1]; rows of silent units become 0.

    ``lo``/``hi`` default to the per-unit range of ``rates``; pass the range over all tempos
    for the ``global`` normalisation. Never divides by zero.
    """
    if lo is None or hi is None:
        lo, hi = unit_ranges(rates)
    span = hi - lo
    active = span > threshold
    scale = np.where(active, 1.0 / np.where(active, span, 1.0), 0.0).astype(np.float32)
    out = (rates - lo.astype(np.float32)) * scale
    out[:, ~active] = 0.0
    return out.astype(np.float32, copy=False)


# ---------------------------------------------------------------------------------------------
# lags, phases, classes, order


def wrap_phase(phase: np.ndarray | float) -> np.ndarray:
    """Wrap cycle fractions to [-0.5, 0.5)."""
    return np.mod(np.asarray(phase, dtype=np.float64) + 0.5, 1.0) - 0.5


def circular_median_phase(phases: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Circular median and resultant length over axis 0 of cycle fractions (C, N).

    Phases are unwrapped to within half a cycle of their circular mean, the ordinary median
    is taken and wrapped back to [-0.5, 0.5). The resultant length R in [0, 1] measures
    locking (1: same phase every cycle).
    """
    angles = 2.0 * np.pi * np.asarray(phases, dtype=np.float64)
    c, s = np.cos(angles).mean(axis=0), np.sin(angles).mean(axis=0)
    mean = np.arctan2(s, c) / (2.0 * np.pi)
    unwrapped = mean + wrap_phase(phases - mean)
    return wrap_phase(np.median(unwrapped, axis=0)), np.hypot(c, s)


@dataclass
class UnitLags:
    """Median lag of each unit to the taps of one tempo (NaN for silent units)."""

    lag_s: np.ndarray
    lag_phase: np.ndarray
    lock_r: np.ndarray
    iti_s: float
    n_cycles: int


def tap_indices(tap_times_s: np.ndarray, dt_s: float) -> np.ndarray:
    """Tap times (s) rounded to sample indices."""
    return np.round(np.asarray(tap_times_s, dtype=np.float64) / dt_s).astype(np.int64)


def unit_lags(
    rates: np.ndarray, tap_times_s: np.ndarray, dt_s: float, silent: np.ndarray
) -> UnitLags:
    """Circular-median lag of each unit's maximum to the taps, windows of +-ITI/2 per tap."""
    n_steps, n_units = rates.shape
    nan = np.full(n_units, np.nan)
    taps = np.asarray(tap_times_s, dtype=np.float64)
    if taps.size < 2:
        return UnitLags(nan, nan.copy(), nan.copy(), float("nan"), 0)
    iti = float(np.median(np.diff(taps)))
    half = int(np.floor(0.5 * iti / dt_s))
    centres = tap_indices(taps, dt_s)
    keep = (centres - half >= 0) & (centres + half <= n_steps)
    if half < 1 or not keep.any():
        return UnitLags(nan, nan.copy(), nan.copy(), iti, 0)
    phases = np.empty((int(keep.sum()), n_units))
    for row, (centre, tap_s) in enumerate(zip(centres[keep], taps[keep], strict=True)):
        peak = np.argmax(rates[centre - half : centre + half], axis=0)
        phases[row] = ((centre - half + peak) * dt_s - tap_s) / iti
    med, lock = circular_median_phase(phases)
    med[silent] = np.nan
    lock[silent] = np.nan
    return UnitLags(med * iti, med, lock, iti, int(keep.sum()))


def unit_phase(lag_phase: np.ndarray) -> np.ndarray:
    """Distance to the nearest tap in cycles, in [0, 0.5] (NaN stays NaN)."""
    return np.abs(wrap_phase(lag_phase))


def raster_order(lag_phase: np.ndarray, n_excitatory: int) -> np.ndarray:
    """Unit indices for the raster: E then I, each by ``lag_phase mod 1``, NaN last (stable)."""
    n_units = len(lag_phase)
    key = np.mod(np.asarray(lag_phase, dtype=np.float64), 1.0)
    key = np.where(np.isnan(key), np.inf, key)
    groups = [np.arange(n_excitatory), np.arange(n_excitatory, n_units)]
    return np.concatenate([g[np.argsort(key[g], kind="stable")] for g in groups]).astype(np.int64)


def classify_units(
    lag_phase: np.ndarray, n_excitatory: int, threshold: float, silent: np.ndarray
) -> np.ndarray:
    """Class per unit: tap_E, tap_I, inter_tap_I, inter_tap_E, silent or unphased."""
    n_units = len(lag_phase)
    is_e = np.arange(n_units) < n_excitatory
    phase = unit_phase(lag_phase)
    with np.errstate(invalid="ignore"):
        tap = phase < threshold
    out = np.where(
        tap, np.where(is_e, "tap_E", "tap_I"), np.where(is_e, "inter_tap_E", "inter_tap_I")
    )
    out = np.where(np.isnan(phase), "unphased", out)
    return np.where(silent, "silent", out).astype(object)


def class_counts(classes: np.ndarray) -> dict[str, int]:
    """Count of every class in :data:`UNIT_CLASSES` (zeros included)."""
    return {c: int(np.sum(classes == c)) for c in UNIT_CLASSES}


# ---------------------------------------------------------------------------------------------
# trajectory length


def step_lengths(rates: np.ndarray) -> np.ndarray:
    """Euclidean length of each step of a trajectory (T, N) -> (T-1,), in chunks."""
    out = np.empty(max(0, rates.shape[0] - 1))
    for start in range(0, len(out), _CHUNK):
        stop = min(len(out), start + _CHUNK)
        diff = rates[start + 1 : stop + 1].astype(np.float64) - rates[start:stop]
        out[start:stop] = np.sqrt(np.einsum("ij,ij->i", diff, diff))
    return out


def cycle_lengths(rates: np.ndarray, tap_times_s: np.ndarray, dt_s: float) -> np.ndarray:
    """Path length between consecutive taps; cycles ending outside the run are dropped."""
    idx = tap_indices(tap_times_s, dt_s)
    idx = idx[(idx >= 0) & (idx < rates.shape[0])]
    if idx.size < 2:
        return np.empty(0)
    cum = np.concatenate([[0.0], np.cumsum(step_lengths(rates))])
    return cum[idx[1:]] - cum[idx[:-1]]


def length_stats(lengths: np.ndarray) -> tuple[float, float]:
    """Mean and SD (ddof 1) of per-cycle lengths; NaN when too few cycles."""
    mean = float(np.mean(lengths)) if lengths.size else float("nan")
    sd = float(np.std(lengths, ddof=1)) if lengths.size > 1 else float("nan")
    return mean, sd


def falls_with_tempo(
    periods_s: np.ndarray,
    values: np.ndarray,
    tolerance: float,
    standard_errors: np.ndarray | None = None,
) -> bool:
    """True when values fall from the slowest to the fastest tempo (see module docstring)."""
    periods = np.asarray(periods_s, dtype=np.float64)
    order = np.argsort(-periods)
    vals = np.asarray(values, dtype=np.float64)[order]
    if vals.size < 2 or not np.all(np.isfinite(vals)):
        return False
    slack = np.zeros(vals.size - 1)
    if standard_errors is not None:
        se = np.nan_to_num(np.asarray(standard_errors, dtype=np.float64)[order])
        slack = 2.0 * np.sqrt(se[1:] ** 2 + se[:-1] ** 2)
    steps_ok = np.all(vals[1:] <= vals[:-1] * (1.0 + tolerance) + slack)
    return bool(steps_ok and vals[-1] < vals[0])


def spearman_rho(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation (average ranks for ties); NaN if undefined."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 2:
        return float("nan")
    rx, ry = rankdata(x[ok]), rankdata(y[ok])
    if rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


# ---------------------------------------------------------------------------------------------
# PCA


@dataclass
class PCAResult:
    """Principal axes of stacked data: mean (N,), components (n, N), variance ratios (n,)."""

    mean: np.ndarray
    components: np.ndarray
    explained_variance_ratio: np.ndarray
    n_samples: int

    def project(self, x: np.ndarray) -> np.ndarray:
        """Coordinates (T, n) of rows x (T, N)."""
        return (np.asarray(x, dtype=np.float64) - self.mean) @ self.components.T


def fit_pca(blocks: Iterable[np.ndarray], n_components: int) -> PCAResult:
    """PCA of the row-stack of ``blocks`` (each (T_k, N)) without materialising the stack.

    scikit-learn's ``IncrementalPCA`` is fed chunk by chunk, so ``blocks`` may be a
    generator with one block in memory at a time (the paper-scale drive is 7 × 50 000 × 500).
    Each component's largest-magnitude loading is made positive, so signs are deterministic.
    """
    ipca: IncrementalPCA | None = None
    carry = np.zeros((0, 0))
    for block in blocks:
        block = np.asarray(block, dtype=np.float64)
        if ipca is None:
            n = min(n_components, block.shape[1])
            ipca = IncrementalPCA(n_components=n)
            carry = np.zeros((0, block.shape[1]))
        data = np.concatenate([carry, block]) if carry.size else block
        usable = (data.shape[0] // _CHUNK) * _CHUNK
        for start in range(0, usable, _CHUNK):
            ipca.partial_fit(data[start : start + _CHUNK])
        carry = data[usable:]
    if ipca is None:
        raise ValueError("fit_pca: need at least two samples")
    if carry.shape[0] >= max(2, ipca.n_components):
        ipca.partial_fit(carry)
    if not hasattr(ipca, "components_"):
        raise ValueError("fit_pca: need at least two samples")
    comps = ipca.components_.copy()
    n = comps.shape[0]
    signs = np.sign(comps[np.arange(n), np.argmax(np.abs(comps), axis=1)])
    comps = comps * np.where(signs == 0, 1.0, signs)[:, None]
    ratio = np.nan_to_num(ipca.explained_variance_ratio_)
    return PCAResult(ipca.mean_.copy(), comps, ratio, int(ipca.n_samples_seen_))


# ---------------------------------------------------------------------------------------------
# the whole analysis


@dataclass
class DynamicsResult:
    """Everything the stage writes: per-unit and per-tempo tables, metrics, figure data."""

    metrics: dict[str, Any]
    unit_rows: list[dict[str, Any]]
    unit_columns: list[str]
    cycle_rows: list[dict[str, Any]]
    figure_data: dict[str, np.ndarray] = field(repr=False)


def reference_index(periods_s: np.ndarray, reference_period_s: float, rtol: float = 0.02) -> int:
    """Index of the trained period nearest the reference; error if none is within ``rtol``."""
    periods = np.asarray(periods_s, dtype=np.float64)
    idx = int(np.argmin(np.abs(periods - reference_period_s)))
    if abs(periods[idx] - reference_period_s) > rtol * reference_period_s:
        raise ValueError(
            f"reference_period_s = {reference_period_s} is not a trained period {periods.tolist()}"
        )
    return idx


def _window(
    taps_idx: np.ndarray, first: int, cycles: int, n_steps: int, fallback: int
) -> tuple[int, int]:
    """Sample range covering ``cycles`` cycles from tap ``first`` (or from 0 without taps)."""
    if taps_idx.size >= 2:
        first = min(first, taps_idx.size - 2)
        last = min(first + cycles, taps_idx.size - 1)
        return int(taps_idx[first]), int(taps_idx[last]) + 1
    return 0, min(n_steps, fallback)


def _lag_column(period_s: float) -> str:
    return f"lag_phase_{period_s * 1e3:g}ms"


def analyse_dynamics(
    periods_s: np.ndarray,
    rates: np.ndarray,
    output: np.ndarray,
    dt_s: float,
    n_excitatory: int,
    settings: DynamicsSettings,
    detector: TapDetector,
) -> DynamicsResult:
    """Lags, classes, raster order, cycle lengths and PCA from pulse-free drives."""
    periods = np.asarray(periods_s, dtype=np.float64).ravel()
    n_tempos, n_steps, n_units = rates.shape
    if output.shape != (n_tempos, n_steps) or periods.shape != (n_tempos,):
        raise ValueError("analyse_dynamics: shapes of periods_s, rates, output disagree")
    if not 0 <= n_excitatory <= n_units:
        raise ValueError(f"n_excitatory = {n_excitatory} outside [0, {n_units}]")
    lag_columns = [_lag_column(p) for p in periods]
    if len(set(lag_columns)) != n_tempos:
        raise ValueError("analyse_dynamics: duplicate periods")
    ref = reference_index(periods, settings.reference_period_s)
    thr = settings.silence_threshold
    glo = unit_ranges(rates) if settings.normalisation == "global" else (None, None)

    def normalised(k: int) -> np.ndarray:
        return minmax_normalise(rates[k], thr, *glo)

    taps, lags, silents, lengths, cycle_rows = [], [], [], [], []
    for k in range(n_tempos):
        tap_res = detect_taps(output[k], dt_s, detector)
        taps.append(tap_res.tap_times_s)
        silent = silent_units(rates[k], thr)
        silents.append(silent)
        lags.append(unit_lags(rates[k], tap_res.tap_times_s, dt_s, silent))
        lengths.append(cycle_lengths(normalised(k), tap_res.tap_times_s, dt_s))
        mean, sd = length_stats(lengths[k])
        cycle_rows.append(
            {
                "period_s": float(periods[k]),
                "frequency_hz": 1.0 / float(periods[k]),
                "reference": k == ref,
                "oscillating": tap_res.oscillating,
                "n_taps": int(tap_res.tap_times_s.size),
                "n_cycles": int(lengths[k].size),
                "median_iti_s": lags[k].iti_s,
                "length_mean": mean,
                "length_sd": sd,
                "n_silent": int(silent.sum()),
            }
        )
    means = np.array([r["length_mean"] for r in cycle_rows])
    sds = np.array([r["length_sd"] for r in cycle_rows])
    n_cyc = np.array([max(2, int(r["n_cycles"])) for r in cycle_rows], dtype=np.float64)
    se_means = sds / np.sqrt(n_cyc)
    se_sds = sds / np.sqrt(2.0 * (n_cyc - 1.0))
    all_osc = all(r["oscillating"] for r in cycle_rows)

    # units at the reference tempo
    ref_lag = lags[ref]
    classes = classify_units(
        ref_lag.lag_phase, n_excitatory, settings.tap_phase_threshold, silents[ref]
    )
    order = raster_order(ref_lag.lag_phase, n_excitatory)
    rank = np.empty(n_units, dtype=np.int64)
    rank[order] = np.arange(n_units)
    unit_columns = [
        "unit", "type", "raster_rank", "silent", "lag_s", "lag_phase", "phase", "lock_r", "class"
    ] + lag_columns  # fmt: skip
    phase = unit_phase(ref_lag.lag_phase)
    unit_rows = []
    for i in range(n_units):
        row = {
            "unit": i,
            "type": "E" if i < n_excitatory else "I",
            "raster_rank": int(rank[i]),
            "silent": bool(silents[ref][i]),
            "lag_s": ref_lag.lag_s[i],
            "lag_phase": ref_lag.lag_phase[i],
            "phase": phase[i],
            "lock_r": ref_lag.lock_r[i],
            "class": classes[i],
        }
        row.update({col: lags[k].lag_phase[i] for k, col in enumerate(lag_columns)})
        unit_rows.append(row)

    # raster window at the reference tempo (sorted rows, float16)
    ref_taps_idx = tap_indices(taps[ref], dt_s)
    ref_taps_idx = ref_taps_idx[(ref_taps_idx >= 0) & (ref_taps_idx < n_steps)]
    period_steps = int(round(periods[ref] / dt_s))
    a, b = _window(
        ref_taps_idx,
        settings.first_tap,
        settings.raster_cycles,
        n_steps,
        settings.raster_cycles * period_steps,
    )
    pad = int(np.floor(0.5 * ref_lag.iti_s / dt_s)) if np.isfinite(ref_lag.iti_s) else 0
    a, b = max(0, a - pad), min(n_steps, b + pad)
    raster = normalised(ref)[a:b][:, order].T.astype(np.float16)
    in_win = ref_taps_idx[(ref_taps_idx >= a) & (ref_taps_idx < b)]

    # PCA fitted once on all tempos; a few cycles per tempo projected, subsampled
    pca = fit_pca((normalised(k) for k in range(n_tempos)), settings.pca_components)
    proj_list, tap_list = [], []
    for k in range(n_tempos):
        t_idx = tap_indices(taps[k], dt_s)
        t_idx = t_idx[(t_idx >= 0) & (t_idx < n_steps)]
        p_steps = int(round(periods[k] / dt_s))
        a_k, b_k = _window(
            t_idx, settings.first_tap, settings.pca_cycles, n_steps, settings.pca_cycles * p_steps
        )
        norm_k = normalised(k)
        proj_list.append(pca.project(norm_k[a_k : b_k : settings.pca_stride_steps]))
        sel = t_idx[(t_idx >= a_k) & (t_idx < b_k)]
        tap_list.append(pca.project(norm_k[sel]))
    n_comp = pca.components.shape[0]
    pca_proj = _pad_stack(proj_list, n_comp)
    pca_taps = _pad_stack(tap_list, n_comp)
    cyc = _pad_stack([x[:, None] for x in lengths], 1)[..., 0].astype(np.float32)

    figure_data = {
        "periods_s": periods,
        "dt_s": np.float64(dt_s),
        "n_excitatory": np.int64(n_excitatory),
        "reference_index": np.int64(ref),
        "raster": raster,
        "raster_order": order,
        "raster_silent": silents[ref][order],
        "raster_lag_phase": ref_lag.lag_phase[order].astype(np.float32),
        "raster_t0_s": np.float64(a * dt_s),
        "raster_taps_s": in_win * dt_s,
        "pca_explained_variance_ratio": pca.explained_variance_ratio,
        "pca_proj": pca_proj.astype(np.float16),
        "pca_taps": pca_taps.astype(np.float16),
        "pca_stride_steps": np.int64(settings.pca_stride_steps),
        "cycle_lengths": cyc,
    }
    counts = class_counts(classes)
    metrics = {
        "reference_period_s": float(periods[ref]),
        "normalisation": settings.normalisation,
        "n_units": n_units,
        "n_excitatory": n_excitatory,
        "all_tempos_oscillating": all_osc,
        "length_mean_falls_with_tempo": falls_with_tempo(
            periods, means, settings.falls_tolerance, se_means
        )
        and all_osc,
        "length_sd_falls_with_tempo": falls_with_tempo(
            periods, sds, settings.falls_tolerance, se_sds
        )
        and all_osc,
        "length_mean_tempo_spearman": spearman_rho(1.0 / periods, means),
        "length_sd_tempo_spearman": spearman_rho(1.0 / periods, sds),
        "trajectory_length": {
            f"{p:g}": {"mean": m, "sd": s, "n_cycles": r["n_cycles"]}
            for p, m, s, r in zip(periods, means, sds, cycle_rows, strict=True)
        },
        "pca": {
            "n_components": n_comp,
            "explained_variance_ratio": pca.explained_variance_ratio,
            "cumulative": float(pca.explained_variance_ratio.sum()),
            "n_samples": pca.n_samples,
        },
        "unit_classes": counts,
        "n_silent": int(silents[ref].sum()),
        "n_silent_all_tempos": int(np.logical_and.reduce(silents).sum()),
        "n_lag_cycles_reference": ref_lag.n_cycles,
    }
    return DynamicsResult(metrics, unit_rows, unit_columns, cycle_rows, figure_data)


def _pad_stack(arrays: list[np.ndarray], width: int) -> np.ndarray:
    """Stack (n_k, width) arrays into (K, max n_k, width), NaN-padded."""
    longest = max([a.shape[0] for a in arrays] + [1])
    out = np.full((len(arrays), longest, width), np.nan)
    for k, a in enumerate(arrays):
        out[k, : a.shape[0]] = a
    return out


ACTIVITY_KEYS = ("periods_s", "rates", "output", "dt_s", "n_excitatory")


def _output_paths(metrics: str, units: str, cycles: str, figure_data: str) -> dict[str, str]:
    return {"metrics": metrics, "units": units, "cycles": cycles, "figure_data": figure_data}


def _write_dynamics(
    data: dict[str, Any],
    settings: DynamicsSettings,
    detector: TapDetector,
    paths: dict[str, str],
    start: float,
) -> dict[str, Any]:
    result = analyse_dynamics(
        data["periods_s"],
        data["rates"],
        data["output"],
        float(data["dt_s"]),
        int(data["n_excitatory"]),
        settings,
        detector,
    )
    write_csv(paths["units"], result.unit_rows, result.unit_columns)
    write_csv(paths["cycles"], result.cycle_rows, CYCLE_COLUMNS)
    atomic_write_npz(paths["figure_data"], result.figure_data)
    metrics = dict(result.metrics, seconds=time.perf_counter() - start)
    write_json(paths["metrics"], metrics)
    return metrics


def zrnn_dynamics_stage(
    params: dict[str, Any],
    taps_params: dict[str, Any],
    checkpoint_path: str,
    metrics_path: str,
    units_csv_path: str,
    cycles_csv_path: str,
    figure_data_npz_path: str,
    threads: int | None = None,
) -> dict[str, Any]:
    """Stage ``zrnn_dynamics``: drive the trained net at its trained cues, analyse, write.

    ``params`` is the ``rhythm.zrnn_dynamics`` section (its ``drive`` sub-section sets the
    pulse-free drive); ``taps_params`` the evaluation's tap detector, so taps match
    ``eval_zrnn``. Rates live only in memory: the outputs are metrics JSON, per-unit and
    per-tempo CSVs and a bounded (float16, windowed) figure npz.
    """
    import torch

    from rnnlab.train.device import pick_device
    from rnnlab.train.zrnn import drive_pulse_free, load_trained_zrnn

    if threads:
        torch.set_num_threads(int(threads))
    start = time.perf_counter()
    settings = DynamicsSettings.from_params(params)
    drive = params["drive"]
    model, task, _ = load_trained_zrnn(checkpoint_path, pick_device(drive["device"]))
    periods = np.asarray(task.periods_s, dtype=np.float64)
    outputs, rates = drive_pulse_free(
        model,
        task,
        periods,
        drive_s=float(drive["drive_s"]),
        onset_s=float(drive["onset_s"]),
        noise_seed=int(drive["noise_seed"]) if drive["noise"] else None,
        keep_rates_from_s=float(drive["discard_s"]),
    )
    first = int(round(float(drive["discard_s"]) / task.dt_s))
    data = {
        "periods_s": periods,
        "rates": rates,
        "output": outputs[:, first:],
        "dt_s": task.dt_s,
        "n_excitatory": model.config.n_excitatory,
    }
    paths = _output_paths(metrics_path, units_csv_path, cycles_csv_path, figure_data_npz_path)
    return _write_dynamics(data, settings, TapDetector.from_params(taps_params), paths, start)


def zrnn_dynamics_from_activity(
    params: dict[str, Any],
    taps_params: dict[str, Any],
    activity_npz_path: str,
    metrics_path: str,
    units_csv_path: str,
    cycles_csv_path: str,
    figure_data_npz_path: str,
) -> dict[str, Any]:
    """The same analysis from a saved activity npz (keys: ``ACTIVITY_KEYS``)."""
    start = time.perf_counter()
    settings = DynamicsSettings.from_params(params)
    with np.load(activity_npz_path, allow_pickle=False) as z:
        missing = [k for k in ACTIVITY_KEYS if k not in z.files]
        if missing:
            raise KeyError(f"{activity_npz_path}: missing array(s) {missing}")
        data = {k: z[k] for k in ACTIVITY_KEYS}
    paths = _output_paths(metrics_path, units_csv_path, cycles_csv_path, figure_data_npz_path)
    return _write_dynamics(data, settings, TapDetector.from_params(taps_params), paths, start)
