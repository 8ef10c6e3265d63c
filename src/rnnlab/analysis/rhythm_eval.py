"""Evaluate a trained ZRNN: pulse-free continuation at each trained cue (rhythm.md §5.1).

The net is driven with the tonic cue only (no pulses), from x = 0, for ``drive_s``
seconds; the first ``discard_s`` seconds are dropped and taps are detected on the rest
with the unbiased detector of :mod:`rnnlab.tasks.taps`. Per tempo we report the mean
inter-tap interval, its CV and the signed relative error; the summary is the mean
absolute relative error (MARE) over the trained tempos, where a tempo that does not
oscillate counts as an error of 1 (100 %), so a silent net can never score well.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from rnnlab.io import atomic_write_npz, write_csv, write_json
from rnnlab.tasks.rhythm import load_set
from rnnlab.tasks.taps import TapDetector, continuation_metrics
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


def eval_zrnn_stage(
    eval_params: dict[str, Any],
    checkpoint_path: str,
    test_path: str,
    metrics_path: str,
    table_path: str,
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

    # the held-out test set with pulses (noise off); one trial per period goes to the figure
    test = load_set(test_path)
    with torch.no_grad():
        test_out = model(torch.as_tensor(test["inputs"], device=device))[0].cpu().numpy()
    test_mse = float(np.mean((test_out - test["target"]) ** 2))
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
        "test": {"mse": test_mse},
        "checkpoint": {"best_step": train_info["best_step"]},
        "seconds": time.perf_counter() - start,
    }
    write_json(metrics_path, metrics)
    return metrics
