"""Evaluate a trained ZRNN (rhythm.md §5.1, issue 4): continuation, generalisation, sync.

1. *Continuation*: the net is driven with the tonic cue only (no pulses), from x = 0, for
   ``drive_s`` seconds; the first ``discard_s`` seconds are dropped and taps are detected
   on the rest with the unbiased detector of :mod:`rnnlab.tasks.taps`. Per tempo: mean
   inter-tap interval, CV, signed relative error; summary MARE over the trained tempos,
   where a tempo that does not oscillate counts as an error of 1 (100 %).
2. *Generalisation*: the same drive at a seeded set of untrained cues; monotonicity of
   cue → interval over the oscillating cues, MARE inside and outside the trained cue range,
   and the cue range where the net oscillates at all.
3. *Synchronisation* (never tested by the originals): on held-out trials with pulses, the
   asynchrony between output peaks and pulse onsets (negative = anticipation) and the
   relative error of the first continuation interval.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy.stats import spearmanr

from rnnlab.io import atomic_write_npz, write_csv, write_json
from rnnlab.tasks.rhythm import load_set
from rnnlab.tasks.taps import (
    NOT_OSCILLATING_ERROR,
    TapDetector,
    continuation_metrics,
    detect_taps,
)
from rnnlab.train.device import pick_device
from rnnlab.train.zrnn import drive_pulse_free, load_trained_zrnn

CONTINUATION_COLUMNS = [
    "period_s",
    "cue",
    "mean_interval_s",
    "interval_cv",
    "relative_error",
    "n_taps",
    "amplitude",
    "oscillating",
]


GENERALISATION_COLUMNS = [
    "cue",
    "period_s",
    "mean_interval_s",
    "interval_cv",
    "relative_error",
    "n_taps",
    "amplitude",
    "oscillating",
    "inside_trained_range",
]
SYNC_COLUMNS = [
    "trial",
    "period_s",
    "pulse",
    "pulse_onset_s",
    "peak_s",
    "asynchrony_ms",
]


@dataclass(frozen=True)
class ContinuationSettings:
    """The drive part of the ``rhythm.zrnn_eval`` params section."""

    drive_s: float
    discard_s: float
    onset_s: float
    noise: bool
    noise_seed: int

    @classmethod
    def from_params(cls, section: dict[str, Any]) -> ContinuationSettings:
        return cls(**{k: section[k] for k in cls.__dataclass_fields__})


def untrained_cues(n_cues: int, cue_min: float, cue_max: float, seed: int) -> np.ndarray:
    """A seeded, sorted set of cues drawn uniformly in [cue_min, cue_max]."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.uniform(cue_min, cue_max, size=n_cues))


def generalisation_metrics(
    cues: np.ndarray, rows: list[dict[str, Any]], trained_cues: np.ndarray
) -> dict[str, Any]:
    """Monotonicity, interpolation/extrapolation error and oscillation range over cues.

    ``rows`` are :func:`continuation_metrics` rows for ``cues`` (same order, ascending).
    A non-oscillating cue counts as 100 % error, as in the continuation MARE.

    ``monotonic`` asks that the interval never *significantly* rises with the cue: a rise
    between neighbouring cues counts only if it exceeds twice the combined standard error
    of the two mean intervals (from their CV and tap counts). Seeded cues can fall within
    1e-4 of each other, where a strict comparison only measures noise; ``monotonic_strict``
    and the Spearman correlation are reported too.
    """
    low, high = float(np.min(trained_cues)), float(np.max(trained_cues))
    inside = (cues >= low - 1e-12) & (cues <= high + 1e-12)
    osc = np.array([r["oscillating"] for r in rows], dtype=bool)
    abs_err = np.array(
        [abs(r["relative_error"]) if r["oscillating"] else NOT_OSCILLATING_ERROR for r in rows]
    )
    osc_rows = [r for r in rows if r["oscillating"]]
    intervals = np.array([r["mean_interval_s"] for r in osc_rows])
    sem = np.array(
        [
            r["interval_cv"] * r["mean_interval_s"] / np.sqrt(max(1, r["n_taps"] - 1))
            for r in osc_rows
        ]
    )
    rises = np.diff(intervals)
    significant = rises > 2.0 * np.sqrt(sem[:-1] ** 2 + sem[1:] ** 2)
    enough = osc.sum() >= 2
    rho = float(spearmanr(cues[osc], intervals).statistic) if osc.sum() >= 3 else None

    def mean_or_none(mask: np.ndarray) -> float | None:
        return float(abs_err[mask].mean()) if mask.any() else None

    return {
        "n_cues": int(len(cues)),
        "monotonic": bool(enough and not significant.any()),
        "monotonic_strict": bool(enough and np.all(rises < 0)),
        "n_significant_rises": int(significant.sum()),
        "spearman_rho": rho,
        "interp_mare": mean_or_none(inside),
        "extrap_mare": mean_or_none(~inside),
        "fraction_oscillating": float(osc.mean()),
        "oscillating_cue_min": float(cues[osc].min()) if osc.any() else None,
        "oscillating_cue_max": float(cues[osc].max()) if osc.any() else None,
        "inside": inside,
    }


def sync_metrics(
    outputs: np.ndarray,
    pulses: np.ndarray,
    periods_s: np.ndarray,
    dt_s: float,
    detector: TapDetector,
    skip_pulses: int,
) -> dict[str, Any]:
    """Output-peak vs pulse-onset asynchrony and first-continuation-interval error.

    For every pulse after the first ``skip_pulses`` (the net cannot anticipate the first),
    the nearest output peak within ±P/2 of the onset gives one asynchrony. The first
    continuation interval is from the peak matched to the last pulse to the next peak.
    """
    rows: list[dict[str, Any]] = []
    first_interval_errors = []
    for trial, (out, pul, period) in enumerate(zip(outputs, pulses, periods_s, strict=True)):
        peaks = detect_taps(out, dt_s, detector).tap_times_s
        onsets = np.flatnonzero(np.diff(np.concatenate([[0.0], pul])) > 0) * dt_s
        if peaks.size == 0 or onsets.size == 0:
            continue
        matched_last = None
        for k, onset in enumerate(onsets):
            nearest = peaks[np.argmin(np.abs(peaks - onset))]
            if abs(nearest - onset) > period / 2:
                continue
            if k == len(onsets) - 1:
                matched_last = nearest
            if k >= skip_pulses:
                rows.append(
                    {
                        "trial": trial,
                        "period_s": float(period),
                        "pulse": k,
                        "pulse_onset_s": float(onset),
                        "peak_s": float(nearest),
                        "asynchrony_ms": float((nearest - onset) * 1e3),
                    }
                )
        if matched_last is not None:
            later = peaks[peaks > matched_last + period / 2]
            if later.size:
                first_interval_errors.append((later[0] - matched_last - period) / period)
    asyn = np.array([r["asynchrony_ms"] for r in rows])
    fie = np.array(first_interval_errors)
    return {
        "asynchrony_mean_ms": float(asyn.mean()) if asyn.size else None,
        "asynchrony_sd_ms": float(asyn.std()) if asyn.size else None,
        "n_matched_pulses": int(asyn.size),
        "first_interval_rel_error_mean": float(fie.mean()) if fie.size else None,
        "first_interval_mare": float(np.abs(fie).mean()) if fie.size else None,
        "n_trials_with_first_interval": int(fie.size),
        "rows": rows,
    }


def eval_zrnn_stage(
    eval_params: dict[str, Any],
    checkpoint_path: str,
    test_path: str,
    metrics_path: str,
    table_path: str,
    generalisation_path: str,
    sync_path: str,
    traces_path: str,
    threads: int | None = None,
) -> dict[str, Any]:
    """Stage ``eval_zrnn``: continuation metrics + example test trials for the figures."""
    if threads:
        torch.set_num_threads(int(threads))
    start = time.perf_counter()
    device = pick_device(eval_params["device"])
    model, task, train_info = load_trained_zrnn(checkpoint_path, device)
    settings = ContinuationSettings.from_params(eval_params["continuation"])
    detector = TapDetector.from_params(eval_params["taps"])
    periods = np.asarray(task.periods_s, dtype=np.float64)

    outputs = drive_pulse_free(
        model,
        task,
        periods,
        drive_s=settings.drive_s,
        onset_s=settings.onset_s,
        noise_seed=settings.noise_seed if settings.noise else None,
    )
    cont = continuation_metrics(outputs, periods, task.dt_s, settings.discard_s, detector)
    rows = cont.pop("rows")
    taps = cont.pop("tap_times_s")
    for row in rows:
        row["cue"] = task.cue_scale / row["period_s"]
    write_csv(table_path, rows, CONTINUATION_COLUMNS)

    # generalisation: the same pulse-free drive at untrained cues, in bounded chunks
    gen_params = eval_params["generalisation"]
    cues = untrained_cues(
        int(gen_params["n_cues"]),
        float(gen_params["cue_min"]),
        float(gen_params["cue_max"]),
        int(gen_params["seed"]),
    )
    gen_rows: list[dict[str, Any]] = []
    chunk = int(gen_params["batch"])
    for i in range(0, len(cues), chunk):
        part_periods = task.cue_scale / cues[i : i + chunk]
        part = drive_pulse_free(
            model,
            task,
            part_periods,
            drive_s=settings.drive_s,
            onset_s=settings.onset_s,
            noise_seed=settings.noise_seed + 1 + i if settings.noise else None,
        )
        gen_rows += continuation_metrics(
            part, part_periods, task.dt_s, settings.discard_s, detector
        )["rows"]
    trained_cues = task.cue_scale / periods
    gen = generalisation_metrics(cues, gen_rows, trained_cues)
    for row, cue, inside in zip(gen_rows, cues, gen.pop("inside"), strict=True):
        row["cue"] = float(cue)
        row["inside_trained_range"] = bool(inside)
    write_csv(generalisation_path, gen_rows, GENERALISATION_COLUMNS)

    # the held-out test set with pulses (noise off): test MSE, synchronisation, figure trials
    test = load_set(test_path)
    with torch.no_grad():
        test_out = model(torch.as_tensor(test["inputs"], device=device))[0].cpu().numpy()
    test_mse = float(np.mean((test_out - test["target"]) ** 2))
    sync = sync_metrics(
        test_out[..., 0],
        test["inputs"][..., 0],
        test["periods_s"],
        task.dt_s,
        detector,
        int(eval_params["sync"]["skip_pulses"]),
    )
    write_csv(sync_path, sync.pop("rows"), SYNC_COLUMNS)
    first = [int(np.flatnonzero(np.isclose(test["periods_s"], p))[0]) for p in periods]
    start_idx = int(round(settings.discard_s / task.dt_s))
    window = min(outputs.shape[1] - start_idx, int(round(3.0 / task.dt_s)))
    max_taps = max(1, max(len(t) for t in taps))
    taps_padded = np.full((len(taps), max_taps), np.nan)
    for i, t in enumerate(taps):
        taps_padded[i, : len(t)] = t
    atomic_write_npz(
        traces_path,
        {
            "periods_s": periods,
            "dt_s": np.float64(task.dt_s),
            "sync_window_s": np.float64(task.sync_window_s),
            "onsets_s": test["onsets_s"][first],
            "pulses": test["inputs"][first, :, 0],
            "cue": test["inputs"][first, :, 1],
            "target": test["target"][first, :, 0],
            "output": test_out[first, :, 0],
            "continuation_start_s": np.float64(settings.discard_s),
            "continuation_output": outputs[:, start_idx : start_idx + window],
            "continuation_taps_s": taps_padded,
        },
    )
    metrics = {
        "continuation": {
            "mare": cont["mare"],
            "n_oscillating": cont["n_oscillating"],
            "n_tempos": cont["n_tempos"],
            "mean_amplitude": cont["mean_amplitude"],
            "per_tempo": cont["per_tempo"],
        },
        "generalisation": gen,
        "sync": sync,
        "test": {"mse": test_mse},
        "checkpoint": {"best_step": train_info["best_step"]},
        "seconds": time.perf_counter() - start,
    }
    write_json(metrics_path, metrics)
    return metrics
