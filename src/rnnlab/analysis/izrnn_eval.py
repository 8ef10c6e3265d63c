"""IZRNN evaluation: continuation timing through the PRNN, and where the error comes from.

Every test trial (the 13 listed periods 1-8 Hz of reference rhythm.md §10 plus a seeded random
set) is run twice with the same noise: once through the PRNN (the cue the IZRNN actually
delivers) and once with the true period behind the same gate and hold (the *calibration
control*). Taps are detected in continuation (after the pulses stop) with the evaluation's
unbiased detector. Per trial:

* ``izrnn_rel_error``: (mean inter-tap interval - P) / P of the IZRNN;
* ``prnn_rel_error``: (mean delivered period over the analysed window - P) / P: the
  estimation error the PRNN hands the ZRNN;
* ``zrnn_rel_error``: the same interval error of the ZRNN driven with the true cue: its own
  calibration error, which the IZRNN inherits even with a perfect PRNN.

``error_split.prnn`` / ``error_split.zrnn`` are the mean absolute values over the listed
periods; ``continuation.mare`` is the IZRNN's (a trial that does not oscillate counts 100 %).
The stage also writes the continuation activity of the listed periods for the dynamics
analysis and bounded traces for the figures. ``izrnn_flow_stage`` runs the ZRNN flow-field
analysis at the cues the IZRNN delivered (the original labels its fields with cues it never
delivered).
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from rnnlab.analysis.rhythm_dynamics import spearman_rho
from rnnlab.analysis.rhythm_flow import REGIME_COLUMNS, FlowSettings, analyse_flow
from rnnlab.io import atomic_write_npz, write_csv, write_json
from rnnlab.params import section_values
from rnnlab.tasks.izrnn import izrnn_pulse_trains, random_test_periods
from rnnlab.tasks.taps import NOT_OSCILLATING_ERROR, TapDetector, detect_taps
from rnnlab.train.device import pick_device
from rnnlab.train.izrnn import load_izrnn

TRIAL_COLUMNS = [
    "period_s",
    "listed",
    "true_cue",
    "delivered_cue",
    "delivered_period_s",
    "prnn_rel_error",
    "izrnn_interval_s",
    "izrnn_interval_cv",
    "izrnn_oscillating",
    "izrnn_rel_error",
    "zrnn_interval_s",
    "zrnn_oscillating",
    "zrnn_rel_error",
]


@dataclass(frozen=True)
class IZRNNEvalSettings:
    """The ``rhythm.izrnn_eval`` params section (all keys required)."""

    device: str
    periods_s: tuple[float, ...]
    n_random: int
    random_min_s: float
    random_max_s: float
    random_seed: int
    duration_s: float
    sync_s: float
    discard_s: float
    onset_s: float
    noise: bool
    noise_seed: int
    batch_size: int
    activity_window_s: float
    trace_periods_s: tuple[float, ...]
    trace_points: int
    flow_periods_s: tuple[float, ...]

    @classmethod
    def from_params(cls, section: dict[str, Any]) -> IZRNNEvalSettings:
        tuples = ("periods_s", "trace_periods_s", "flow_periods_s")
        settings = cls(**section_values(cls, section, "rhythm.izrnn_eval", float_tuples=tuples))
        if settings.sync_s + settings.discard_s + 4 * max(settings.periods_s) > settings.duration_s:
            raise ValueError(
                "rhythm.izrnn_eval: duration_s must leave >= 4 periods of continuation after "
                "sync_s + discard_s"
            )
        return settings


def _interval(trace: np.ndarray, dt_s: float, detector: TapDetector) -> tuple[float, float, bool]:
    taps = detect_taps(trace, dt_s, detector)
    return taps.mean_interval_s, taps.cv, bool(taps.oscillating)


@torch.no_grad()
def drive_izrnn(
    model: Any,
    prnn_task: Any,
    zrnn_task: Any,
    periods_s: np.ndarray,
    settings: IZRNNEvalSettings,
    *,
    true_cue: bool,
    batch_index: int,
) -> dict[str, np.ndarray]:
    """One batch through the IZRNN (or the true-cue control), noise seeded per batch.

    The control (``true_cue``) does not run the PRNN (its ``estimate`` is NaN): the gate
    comes from the pulses, the cue from the true period.
    """
    device = next(model.parameters()).device
    onsets = np.full(periods_s.shape, settings.onset_s)
    trains = izrnn_pulse_trains(
        prnn_task, zrnn_task, periods_s, onsets, settings.duration_s, settings.sync_s
    )
    gen = None
    if settings.noise:
        gen = torch.Generator(device=device).manual_seed(settings.noise_seed + batch_index)
    out = model(
        trains["prnn_pulses"].to(device),
        trains["zrnn_pulses"].to(device),
        noise_generator=gen,
        true_period_s=torch.as_tensor(periods_s, device=device) if true_cue else None,
    )
    return {
        "output": out["output"].cpu().numpy(),
        "rates": out["rates"].cpu().numpy().astype(np.float32),
        "period": out["period"].cpu().numpy(),
        "cue": out["cue"].cpu().numpy(),
        "estimate": out["estimate"].cpu().numpy(),
        "prnn_pulses": trains["prnn_pulses"].numpy(),
        "zrnn_pulses": trains["zrnn_pulses"].numpy(),
    }


def _subsample(n_steps: int, points: int) -> np.ndarray:
    return np.unique(np.linspace(0, n_steps - 1, min(points, n_steps)).round().astype(np.int64))


def evaluate_izrnn(
    model: Any, prnn_task: Any, zrnn_task: Any, settings: IZRNNEvalSettings, detector: TapDetector
) -> dict[str, Any]:
    """Rows per trial, metrics, activity of the listed periods and figure traces."""
    listed = np.asarray(settings.periods_s, dtype=np.float64)
    random = random_test_periods(
        settings.n_random, settings.random_min_s, settings.random_max_s, settings.random_seed
    )
    periods = np.concatenate([listed, random])
    is_listed = np.arange(periods.size) < listed.size
    dt = zrnn_task.dt_s
    first = int(round((settings.onset_s + settings.sync_s + settings.discard_s) / dt))
    window_steps = int(round(settings.activity_window_s / dt))
    rows: list[dict[str, Any]] = []
    activity_rates, activity_output = [], []
    trace_keep = set(np.round(settings.trace_periods_s, 6))
    traces: dict[str, list[np.ndarray]] = {
        k: [] for k in ("period_s", "output", "control_output", "pulses", "cue", "delivered")
    }
    for b, start in enumerate(range(0, periods.size, settings.batch_size)):
        chunk = periods[start : start + settings.batch_size]
        iz = drive_izrnn(
            model, prnn_task, zrnn_task, chunk, settings, true_cue=False, batch_index=b
        )
        ctl = drive_izrnn(
            model, prnn_task, zrnn_task, chunk, settings, true_cue=True, batch_index=b
        )
        n_steps = iz["output"].shape[1]
        idx = _subsample(n_steps, settings.trace_points)
        for j, period in enumerate(chunk):
            k = start + j
            iz_int, iz_cv, iz_osc = _interval(iz["output"][j, first:], dt, detector)
            ctl_int, _, ctl_osc = _interval(ctl["output"][j, first:], dt, detector)
            delivered = float(np.nanmean(iz["period"][j, first:]))
            rows.append(
                {
                    "period_s": float(period),
                    "listed": bool(is_listed[k]),
                    "true_cue": zrnn_task.cue_scale / float(period),
                    "delivered_cue": float(np.mean(iz["cue"][j, first:])),
                    "delivered_period_s": delivered,
                    "prnn_rel_error": (delivered - period) / period,
                    "izrnn_interval_s": iz_int,
                    "izrnn_interval_cv": iz_cv,
                    "izrnn_oscillating": iz_osc,
                    "izrnn_rel_error": (iz_int - period) / period if iz_osc else float("nan"),
                    "zrnn_interval_s": ctl_int,
                    "zrnn_oscillating": ctl_osc,
                    "zrnn_rel_error": (ctl_int - period) / period if ctl_osc else float("nan"),
                }
            )
            if is_listed[k]:
                activity_rates.append(iz["rates"][j, -window_steps:])
                activity_output.append(iz["output"][j, -window_steps:])
            if is_listed[k] and round(float(period), 6) in trace_keep:
                traces["period_s"].append(np.array(period))
                traces["output"].append(iz["output"][j, idx])
                traces["control_output"].append(ctl["output"][j, idx])
                traces["pulses"].append(iz["zrnn_pulses"][j, idx])
                traces["cue"].append(iz["cue"][j, idx])
                traces["delivered"].append(iz["period"][j, idx])
        traces_time = idx * dt
    metrics = _metrics(rows, settings)
    activity = {
        "periods_s": listed,
        "rates": np.stack(activity_rates),
        "output": np.stack(activity_output),
        "dt_s": np.array(dt),
        "n_excitatory": np.array(model.zrnn.config.n_excitatory),
    }
    figure = {k: np.stack(v) for k, v in traces.items() if v}
    figure["time_s"] = traces_time
    figure["sync_end_s"] = np.array(settings.onset_s + settings.sync_s)
    figure["analysis_start_s"] = np.array(first * dt)
    return {"rows": rows, "metrics": metrics, "activity": activity, "figure": figure}


def _mean_abs(values: list[float], oscillating: list[bool]) -> float:
    errs = [
        abs(v) if ok else NOT_OSCILLATING_ERROR for v, ok in zip(values, oscillating, strict=True)
    ]
    return float(np.mean(errs)) if errs else float("nan")


def _metrics(rows: list[dict[str, Any]], settings: IZRNNEvalSettings) -> dict[str, Any]:
    listed = [r for r in rows if r["listed"]]
    random = [r for r in rows if not r["listed"]]
    iz_mare = _mean_abs(
        [r["izrnn_rel_error"] for r in listed], [r["izrnn_oscillating"] for r in listed]
    )
    zrnn_mare = _mean_abs(
        [r["zrnn_rel_error"] for r in listed], [r["zrnn_oscillating"] for r in listed]
    )
    prnn_mare = float(np.mean([abs(r["prnn_rel_error"]) for r in listed]))
    osc = [r for r in rows if r["izrnn_oscillating"]]
    cues = np.array([r["delivered_cue"] for r in osc])
    intervals = np.array([r["izrnn_interval_s"] for r in osc])
    return {
        "continuation": {
            "mare": iz_mare,
            "per_period": {f"{r['period_s']:g}": r["izrnn_rel_error"] for r in listed},
            "n_oscillating": int(sum(r["izrnn_oscillating"] for r in listed)),
            "n_periods": len(listed),
            "random_mare": _mean_abs(
                [r["izrnn_rel_error"] for r in random], [r["izrnn_oscillating"] for r in random]
            )
            if random
            else None,
            "n_random": len(random),
        },
        "error_split": {
            "prnn": prnn_mare,
            "zrnn": zrnn_mare,
            "izrnn": iz_mare,
            "per_period_prnn": {f"{r['period_s']:g}": r["prnn_rel_error"] for r in listed},
            "per_period_zrnn": {f"{r['period_s']:g}": r["zrnn_rel_error"] for r in listed},
        },
        "cue_interval": {
            "spearman_rho": spearman_rho(cues, intervals) if cues.size > 2 else None,
            "monotonic": bool(np.all(np.diff(intervals[np.argsort(cues)]) < 0))
            if cues.size > 1
            else None,
        },
        "drive": {
            "duration_s": settings.duration_s,
            "sync_s": settings.sync_s,
            "discard_s": settings.discard_s,
            "noise": settings.noise,
        },
    }


def izrnn_eval_stage(
    eval_params: dict[str, Any],
    taps_params: dict[str, Any],
    checkpoint_path: str,
    metrics_path: str,
    trials_csv_path: str,
    activity_npz_path: str,
    traces_npz_path: str,
    threads: int | None = None,
) -> dict[str, Any]:
    """Stage ``eval_izrnn``: ``rhythm.izrnn_eval`` (+ the ZRNN evaluation's tap detector) and
    the IZRNN checkpoint in; metrics JSON, per-trial CSV, activity and trace npz out."""
    if threads:
        torch.set_num_threads(int(threads))
    start = time.perf_counter()
    settings = IZRNNEvalSettings.from_params(eval_params)
    model, prnn_task, zrnn_task = load_izrnn(checkpoint_path, pick_device(settings.device))
    result = evaluate_izrnn(
        model, prnn_task, zrnn_task, settings, TapDetector.from_params(taps_params)
    )
    metrics = dict(
        result["metrics"], wiring=model.wiring.to_dict(), seconds=time.perf_counter() - start
    )
    write_csv(trials_csv_path, result["rows"], TRIAL_COLUMNS)
    atomic_write_npz(activity_npz_path, result["activity"])
    atomic_write_npz(traces_npz_path, result["figure"])
    write_json(metrics_path, metrics)
    return metrics


def delivered_cues(trials_csv_path: str, periods_s: tuple[float, ...]) -> dict[float, float]:
    """Period -> mean cue the IZRNN delivered in continuation (from ``eval_izrnn``'s table)."""
    import pandas as pd

    table = pd.read_csv(trials_csv_path)
    out = {}
    for period in periods_s:
        match = table[np.isclose(table["period_s"], period, rtol=1e-6)]
        if match.empty:
            raise ValueError(
                f"rhythm.izrnn_eval.flow_periods_s: {period} s is not an evaluated period"
            )
        out[period] = float(match["delivered_cue"].iloc[0])
    return out


def izrnn_flow_stage(
    flow_params: dict[str, Any],
    eval_params: dict[str, Any],
    checkpoint_path: str,
    trials_csv_path: str,
    metrics_path: str,
    regimes_csv_path: str,
    flow_npz_path: str,
    threads: int | None = None,
) -> dict[str, Any]:
    """Stage ``izrnn_flow``: the ZRNN flow analysis (``rhythm.zrnn_flow`` settings) at the cues
    the IZRNN delivered for ``rhythm.izrnn_eval.flow_periods_s``; noise off."""
    if threads:
        torch.set_num_threads(int(threads))
    start = time.perf_counter()
    settings = IZRNNEvalSettings.from_params(eval_params)
    cues = delivered_cues(trials_csv_path, settings.flow_periods_s)
    params = copy.deepcopy(flow_params)
    params["cues"] = [cues[p] for p in settings.flow_periods_s]
    flow = FlowSettings.from_params(params)
    model, _, zrnn_task = load_izrnn(checkpoint_path, pick_device(flow.device))
    result = analyse_flow(model.zrnn, flow, float(zrnn_task.cue_scale), tuple(zrnn_task.periods_s))
    write_csv(regimes_csv_path, result.rows, REGIME_COLUMNS)
    atomic_write_npz(flow_npz_path, result.arrays)
    metrics = dict(
        result.metrics,
        delivered={f"{p:g}": c for p, c in cues.items()},
        seconds=time.perf_counter() - start,
    )
    write_json(metrics_path, metrics)
    return metrics
