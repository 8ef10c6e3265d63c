"""Evaluate a trained PRNN on long held-out trials (rhythm.md §8.4-8.5, §15.5).

The test set has periods disjoint from training and validation and trials longer than any
training trial: pulses for ``sync_s``, then a pulse-free continuation to ``duration_s``. The
original scored only the last step, which mixes estimation, drift and length extrapolation
(rhythm.md §13); here three numbers are reported separately:

* ``end_of_sync``: the estimate at the last step of the synchronisation window
  (step ``sync_end - 1``), against the true P;
* ``drift``: per trial, the least-squares slope (s/s) of P̂(t) over the continuation, after
  skipping its first ``drift_skip_s`` seconds (the response to the missing pulse), and the
  change P̂(end) - P̂(end of sync);
* ``end_of_trial``: the estimate at the last step (the original's number).

Each estimate block has MAE, RMSE, R² = 1 - SS_res/SS_tot, and the least-squares line of
predicted on true (slope, intercept). The figure data come from separate noise-free drives at
listed periods (``trace_periods_s``, ``raster_periods_s``, ``pca_periods_s``; onset ``onset_s``,
the test set's duration and window) and are bounded: subsampled estimate traces, float16
hidden-state windows around the end of synchronisation with their ± peaks, subsampled PCA
projections with pulse points, and the per-step PC displacement mean / SD by period.

Hidden-state conventions as the original: rasters use h / max|h| per unit over the whole
trial, peaks of ±h above ``raster_threshold`` (scipy ``find_peaks``); PCA uses h min-max
normalised per unit and trial to [-1, 1], one PCA (scikit-learn IncrementalPCA through
:func:`rnnlab.analysis.rhythm_dynamics.fit_pca`) fitted on all PCA periods' full trials.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy.signal import find_peaks

from rnnlab.analysis.rhythm_dynamics import fit_pca, minmax_normalise
from rnnlab.io import atomic_write_npz, write_csv, write_json
from rnnlab.models.prnn import PRNN
from rnnlab.params import section_values
from rnnlab.tasks.prnn import PRNNTaskConfig, build_prnn_trials, load_prnn_set
from rnnlab.train.device import pick_device
from rnnlab.train.prnn import load_trained_prnn, predict

TRIAL_COLUMNS = [
    "trial",
    "period_s",
    "onset_s",
    "n_pulses",
    "first_valid_s",
    "sync_end_s",
    "end_of_sync_s",
    "end_of_trial_s",
    "end_of_sync_error_s",
    "end_of_trial_error_s",
    "drift_slope_per_s",
    "drift_change_s",
]
REFERENCE = {"end_of_trial_mae": 0.0159, "end_of_trial_r2": 0.9972, "drift_s_over_26s": 0.02}
PHASES = ("whole", "sync", "continuation")


@dataclass(frozen=True)
class PRNNEvalSettings:
    """The ``rhythm.prnn_eval`` params section (all keys required)."""

    device: str
    batch_size: int
    drift_skip_s: float
    onset_s: float
    trace_periods_s: tuple[float, ...]
    trace_points: int
    raster_periods_s: tuple[float, ...]
    raster_window_s: float
    raster_threshold: float
    pca_periods_s: tuple[float, ...]
    pca_components: int
    pca_points: int

    @classmethod
    def from_params(cls, section: dict[str, Any]) -> PRNNEvalSettings:
        tuples = ("trace_periods_s", "raster_periods_s", "pca_periods_s")
        return cls(**section_values(cls, section, "prnn_eval params", float_tuples=tuples))


# ---------------------------------------------------------------------------------------------
# metrics (pure functions of estimates)


def estimate_metrics(pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """MAE, RMSE, bias, R² and the least-squares line of ``pred`` on ``true``."""
    pred = np.asarray(pred, dtype=np.float64)
    true = np.asarray(true, dtype=np.float64)
    err = pred - true
    ss_tot = float(((true - true.mean()) ** 2).sum())
    if ss_tot > 0:
        slope, intercept = np.polyfit(true, pred, 1)
        r2 = 1.0 - float((err**2).sum()) / ss_tot
    else:
        slope = intercept = r2 = float("nan")
    return {
        "mae": float(np.abs(err).mean()),
        "rmse": float(np.sqrt((err**2).mean())),
        "bias": float(err.mean()),
        "r2": float(r2),
        "slope": float(slope),
        "intercept": float(intercept),
        "n": int(len(true)),
    }


def drift_slopes(
    estimates: np.ndarray, sync_end: np.ndarray, lengths: np.ndarray, dt_s: float, skip_steps: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per-trial OLS slope (s/s) of P̂ over steps [sync_end + skip, length) and the change
    P̂(length - 1) - P̂(sync_end - 1). NaN slope when fewer than 2 steps remain."""
    n = len(estimates)
    slopes = np.full(n, np.nan)
    change = np.full(n, np.nan)
    for i in range(n):
        last = int(lengths[i]) - 1
        first = int(sync_end[i]) + int(skip_steps)
        if int(sync_end[i]) >= 1:
            change[i] = float(estimates[i, last]) - float(estimates[i, int(sync_end[i]) - 1])
        if last - first + 1 >= 2:
            y = np.asarray(estimates[i, first : last + 1], dtype=np.float64)
            t = np.arange(first, last + 1, dtype=np.float64) * dt_s
            t -= t.mean()
            slopes[i] = float((t * (y - y.mean())).sum() / (t**2).sum())
    return slopes, change


def score_test_set(
    estimates: np.ndarray, test_set: dict[str, np.ndarray], dt_s: float, drift_skip_s: float
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Contract metrics and per-trial rows from estimates (B, T) on a test set."""
    periods = np.asarray(test_set["periods_s"], dtype=np.float64)
    lengths = np.asarray(test_set["lengths"], dtype=np.int64)
    sync_end = np.asarray(test_set["sync_end"], dtype=np.int64)
    rows_idx = np.arange(len(periods))
    at_sync = estimates[rows_idx, sync_end - 1].astype(np.float64)
    at_end = estimates[rows_idx, lengths - 1].astype(np.float64)
    skip = int(round(drift_skip_s / dt_s))
    slopes, change = drift_slopes(estimates, sync_end, lengths, dt_s, skip)
    continuation_s = float(np.mean(lengths - sync_end) * dt_s)
    finite = np.isfinite(slopes)
    metrics = {
        "end_of_sync": estimate_metrics(at_sync, periods),
        "end_of_trial": estimate_metrics(at_end, periods),
        "drift": {
            "slope_per_s": float(np.mean(slopes[finite])) if finite.any() else float("nan"),
            "slope_per_s_median": float(np.median(slopes[finite])) if finite.any() else None,
            "slope_per_s_sd": float(np.std(slopes[finite], ddof=1)) if finite.sum() > 1 else None,
            "relative_slope_per_s": (
                float(np.mean(slopes[finite] / periods[finite])) if finite.any() else None
            ),
            "change_s": float(np.nanmean(change)),
            "slope_x26s_s": float(np.mean(slopes[finite]) * 26.0) if finite.any() else None,
            "continuation_s": continuation_s,
            "skip_s": float(drift_skip_s),
        },
    }
    first_valid = np.asarray(test_set["first_valid"], dtype=np.int64)
    rows = [
        {
            "trial": i,
            "period_s": periods[i],
            "onset_s": float(test_set["onsets_s"][i]),
            "n_pulses": int(test_set["n_pulses"][i]) if "n_pulses" in test_set else None,
            "first_valid_s": first_valid[i] * dt_s,
            "sync_end_s": sync_end[i] * dt_s,
            "end_of_sync_s": at_sync[i],
            "end_of_trial_s": at_end[i],
            "end_of_sync_error_s": at_sync[i] - periods[i],
            "end_of_trial_error_s": at_end[i] - periods[i],
            "drift_slope_per_s": slopes[i],
            "drift_change_s": change[i],
        }
        for i in rows_idx
    ]
    return metrics, rows


# ---------------------------------------------------------------------------------------------
# analysis drives (figure data)


@torch.no_grad()
def drive_periods(
    model: PRNN,
    task: PRNNTaskConfig,
    periods_s: np.ndarray,
    *,
    duration_s: float,
    sync_s: float,
    onset_s: float,
    batch_size: int,
) -> Iterator[dict[str, Any]]:
    """Yield, per period, the estimate (T,), hidden states (T, H) and pulse onset steps."""
    device = next(model.parameters()).device
    n_steps = task.steps(duration_s)
    for start in range(0, len(periods_s), batch_size):
        chunk = torch.as_tensor(np.asarray(periods_s[start : start + batch_size], np.float64))
        n = len(chunk)
        trials = build_prnn_trials(
            task,
            chunk,
            torch.full((n,), float(onset_s), dtype=torch.float64),
            torch.full((n,), n_steps, dtype=torch.int64),
            torch.full((n,), float(sync_s), dtype=torch.float64),
        )
        est, hidden = model(trials["pulses"].to(device), return_hidden=True)
        pulses = trials["pulses"].numpy()
        for i in range(n):
            on = pulses[i] > 0
            onsets = np.flatnonzero(on & ~np.concatenate([[False], on[:-1]]))
            yield {
                "period_s": float(chunk[i]),
                "estimate": est[i].cpu().numpy().astype(np.float32),
                "hidden": hidden[i].cpu().numpy().astype(np.float32),
                "pulse_steps": onsets,
                "sync_end": int(trials["sync_end"][i]),
                "first_valid": int(trials["first_valid"][i]),
            }


def _subsample_index(n_steps: int, points: int) -> np.ndarray:
    stride = max(1, int(np.ceil(n_steps / max(1, points))))
    idx = np.arange(0, n_steps, stride)
    return idx if idx[-1] == n_steps - 1 else np.append(idx, n_steps - 1)


def _pad_rows(rows: list[np.ndarray], fill: float = np.nan) -> np.ndarray:
    width = max([len(r) for r in rows] + [1])
    tail = rows[0].shape[1:] if rows else ()
    out = np.full((len(rows), width, *tail), fill, dtype=np.float64)
    for k, r in enumerate(rows):
        out[k, : len(r)] = r
    return out


def pca_normalise(hidden: np.ndarray) -> np.ndarray:
    """Per-unit min-max to [-1, 1] over one trial (constant units become -1)."""
    return 2.0 * minmax_normalise(hidden, 0.0) - 1.0


def raster_data(
    drive: dict[str, Any], dt_s: float, window_s: float, threshold: float
) -> dict[str, Any]:
    """Window of h / max|h| around the end of sync (float16), unit order, ± peaks."""
    hidden = drive["hidden"]
    scale = np.abs(hidden).max(axis=0)
    norm = hidden / np.where(scale > 0, scale, 1.0)
    half = int(round(window_s / dt_s / 2))
    first = max(0, drive["sync_end"] - half)
    last = min(len(hidden), drive["sync_end"] + half)
    win = norm[first:last]
    after = max(0, drive["sync_end"] - first)
    order = np.argsort(-win[after:].mean(axis=0), kind="stable") if after < len(win) else None
    if order is None:
        order = np.arange(hidden.shape[1])
    units, steps, signs = [], [], []
    for rank, unit in enumerate(order):
        for sign in (1, -1):
            peaks, _ = find_peaks(sign * win[:, unit], height=threshold)
            units.append(np.full(len(peaks), rank))
            steps.append(peaks)
            signs.append(np.full(len(peaks), sign))
    pulses = drive["pulse_steps"]
    in_win = pulses[(pulses >= first) & (pulses < last)]
    return {
        "window": win[:, order].astype(np.float16),
        "order": order,
        "t0_s": first * dt_s,
        "peak_rank": np.concatenate(units).astype(np.int32),
        "peak_step": np.concatenate(steps).astype(np.int32),
        "peak_sign": np.concatenate(signs).astype(np.int8),
        "pulses_s": in_win * dt_s,
    }


def displacement_stats(proj: np.ndarray, sync_end: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and SD (ddof 0) of the per-step displacement |x_{t+1} - x_t| for the whole
    trial, the synchronisation part (steps < sync_end) and the continuation."""
    step = np.linalg.norm(np.diff(proj, axis=0), axis=1)
    parts = (step, step[: max(0, sync_end - 1)], step[max(0, sync_end - 1) :])
    means = np.array([p.mean() if p.size else np.nan for p in parts])
    sds = np.array([p.std() if p.size else np.nan for p in parts])
    return means, sds


def figure_data(
    model: PRNN,
    task: PRNNTaskConfig,
    settings: PRNNEvalSettings,
    duration_s: float,
    sync_s: float,
    train_periods_s: np.ndarray | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The bounded figure npz content and a few summary numbers (explained variance).

    ``train_periods_s`` flags which trace periods were trained on (``trace_trained``)."""
    dt = task.dt_s
    common = {"duration_s": duration_s, "sync_s": sync_s, "onset_s": settings.onset_s}
    batch = settings.batch_size
    listed = np.unique(
        np.array(settings.trace_periods_s + settings.raster_periods_s, dtype=np.float64)
    )
    traces: dict[float, dict[str, Any]] = {}
    rasters: dict[float, dict[str, Any]] = {}
    n_steps = task.steps(duration_s)
    t_idx = _subsample_index(n_steps, settings.trace_points)
    for drive in drive_periods(model, task, listed, batch_size=batch, **common):
        p = drive["period_s"]
        if np.isclose(settings.trace_periods_s, p).any():
            traces[p] = {
                "estimate": drive["estimate"][t_idx],
                "sync_end": drive["sync_end"],
                "first_valid": drive["first_valid"],
            }
        if np.isclose(settings.raster_periods_s, p).any():
            rasters[p] = raster_data(drive, dt, settings.raster_window_s, settings.raster_threshold)
            rasters[p]["sync_end_s"] = drive["sync_end"] * dt

    pca_periods = np.array(settings.pca_periods_s, dtype=np.float64)

    def blocks() -> Iterator[np.ndarray]:
        for drive in drive_periods(model, task, pca_periods, batch_size=batch, **common):
            yield pca_normalise(drive["hidden"])

    pca = fit_pca(blocks(), settings.pca_components)
    p_idx = _subsample_index(n_steps, settings.pca_points)
    proj_sub, pulse_pts, starts, ends, sync_idx, means, sds = [], [], [], [], [], [], []
    for drive in drive_periods(model, task, pca_periods, batch_size=batch, **common):
        proj = pca.project(pca_normalise(drive["hidden"]))
        proj_sub.append(proj[p_idx])
        pulse_pts.append(proj[drive["pulse_steps"]])
        starts.append(proj[0])
        ends.append(proj[-1])
        sync_idx.append(int(np.searchsorted(p_idx, drive["sync_end"])))
        m, s = displacement_stats(proj, drive["sync_end"])
        means.append(m)
        sds.append(s)

    tr_p = sorted(traces)
    ra_p = sorted(rasters)
    data: dict[str, np.ndarray] = {
        "dt_s": np.float64(dt),
        "duration_s": np.float64(duration_s),
        "sync_s": np.float64(sync_s),
        "onset_s": np.float64(settings.onset_s),
        "trace_periods_s": np.array(tr_p),
        "trace_t_s": t_idx * dt,
        "trace_estimate": np.stack([traces[p]["estimate"] for p in tr_p]).astype(np.float32),
        "trace_sync_end_s": np.array([traces[p]["sync_end"] * dt for p in tr_p]),
        "trace_first_valid_s": np.array([traces[p]["first_valid"] * dt for p in tr_p]),
        "trace_trained": np.array(
            [
                train_periods_s is not None
                and bool(np.isclose(train_periods_s, p, atol=0.5 * task.periods.grid_s).any())
                for p in tr_p
            ]
        ),
        "raster_periods_s": np.array(ra_p),
        "raster_threshold": np.float64(settings.raster_threshold),
        "raster_window": np.stack([rasters[p]["window"] for p in ra_p]),
        "raster_order": np.stack([rasters[p]["order"] for p in ra_p]).astype(np.int32),
        "raster_t0_s": np.array([rasters[p]["t0_s"] for p in ra_p]),
        "raster_sync_end_s": np.array([rasters[p]["sync_end_s"] for p in ra_p]),
        "raster_pulses_s": _pad_rows([rasters[p]["pulses_s"] for p in ra_p]),
        "raster_peak_period": np.concatenate(
            [np.full(len(rasters[p]["peak_rank"]), k, np.int32) for k, p in enumerate(ra_p)]
        ),
        "raster_peak_rank": np.concatenate([rasters[p]["peak_rank"] for p in ra_p]),
        "raster_peak_step": np.concatenate([rasters[p]["peak_step"] for p in ra_p]),
        "raster_peak_sign": np.concatenate([rasters[p]["peak_sign"] for p in ra_p]),
        "pca_periods_s": pca_periods,
        "pca_explained_variance_ratio": pca.explained_variance_ratio,
        "pca_t_s": p_idx * dt,
        "pca_proj": np.stack(proj_sub).astype(np.float32),
        "pca_sync_index": np.array(sync_idx, dtype=np.int64),
        "pca_start": np.stack(starts),
        "pca_end": np.stack(ends),
        "pca_pulses": _pad_rows(pulse_pts).astype(np.float32),
        "traj_phases": np.array(PHASES),
        "traj_mean": np.stack(means),
        "traj_sd": np.stack(sds),
    }
    summary = {
        "pca_explained_variance_ratio": pca.explained_variance_ratio,
        "trajectory": {
            f"{p:g}": {"mean": float(m[0]), "sd": float(s[0])}
            for p, m, s in zip(pca_periods, means, sds, strict=True)
        },
    }
    return data, summary


# ---------------------------------------------------------------------------------------------
# stage


def eval_prnn_stage(
    eval_params: dict[str, Any],
    checkpoint_path: str,
    test_path: str,
    metrics_path: str,
    trials_csv_path: str,
    figure_data_npz_path: str,
    threads: int | None = None,
) -> dict[str, Any]:
    """Stage ``eval_prnn``: ``rhythm.prnn_eval``, checkpoint and test set in; metrics JSON,
    per-trial CSV and the bounded figure-data npz out."""
    if threads:
        torch.set_num_threads(int(threads))
    start = time.perf_counter()
    settings = PRNNEvalSettings.from_params(eval_params)
    model, task, info = load_trained_prnn(checkpoint_path, pick_device(settings.device))
    test = load_prnn_set(test_path)
    dt = float(test["dt_s"])
    if not np.isclose(dt, task.dt_s):
        raise ValueError(f"{test_path}: dt {dt} s differs from the model's task dt {task.dt_s} s")
    est = predict(model, test["pulses"], test["lengths"], batch_size=settings.batch_size)
    metrics, rows = score_test_set(est, test, dt, settings.drift_skip_s)
    duration_s = float(test["duration_s"])
    sync_s = float(test["sync_s"])
    data, summary = figure_data(
        model, task, settings, duration_s, sync_s, np.asarray(info["periods"]["train"])
    )
    metrics.update(
        {
            "test": {
                "n_trials": len(rows),
                "duration_s": duration_s,
                "sync_s": sync_s,
                "dt_s": dt,
                "period_min_s": float(np.min(test["periods_s"])),
                "period_max_s": float(np.max(test["periods_s"])),
                "longest_training_trial_s": task.max_duration_s,
            },
            "figures": summary,
            "reference": REFERENCE,
            "checkpoint": {"best_epoch": info["train"]["best_epoch"]},
            "seconds": time.perf_counter() - start,
        }
    )
    write_csv(trials_csv_path, rows, TRIAL_COLUMNS)
    atomic_write_npz(figure_data_npz_path, data)
    write_json(metrics_path, metrics)
    return metrics
