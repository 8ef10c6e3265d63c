"""Behaviour per stage: saccade-error histograms and ODRD performance vs distractor distance.

- saccade_distribut_analysis: final-step popvec angular error to the *target* (for anti
  tasks the anti location), over ``error_repeats`` noisy test batches per stage checkpoint;
  histograms on 0–180° (``n_bins``) pooled per stage;
- odrd_distractor_analysis: every (cue, distractor) location pair; perf averaged by the
  circular distance d = 0..4 (× 45°) and stage. d = 0 never occurs in training.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnlab.analysis.maturation_stages import STAGES
from rnnlab.io import write_csv, write_json
from rnnlab.tasks.maturation import N_RING


def error_histogram(errors_deg: np.ndarray, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Fractions of trials per bin on [0, 180] degrees; returns (fractions, edges)."""
    edges = np.linspace(0.0, 180.0, n_bins + 1)
    counts, _ = np.histogram(np.clip(errors_deg, 0, 180), bins=edges)
    total = max(1, counts.sum())
    return counts / total, edges


def perf_by_distance(correct: np.ndarray) -> np.ndarray:
    """(…, 8 cue, 8 distractor) success fractions -> (…, 5) mean over pairs at distance d."""
    cue, dis = np.meshgrid(np.arange(N_RING), np.arange(N_RING), indexing="ij")
    dist = np.minimum((dis - cue) % N_RING, (cue - dis) % N_RING)
    return np.stack([correct[..., dist == k].mean(-1) for k in range(N_RING // 2 + 1)], -1)


def errors_stage(
    params: dict[str, Any],
    activity_paths: dict[str, str],
    *,
    hist_csv: str,
    distractor_csv: str,
    metrics_path: str,
) -> dict[str, Any]:
    """Stage ``maturation_errors``: histograms and distractor-distance table + metrics."""
    n_bins = int(params["n_bins"])
    rows, metrics = [], {"saccade_error_deg": {}, "distractor": {}}
    for task, path in activity_paths.items():
        d = np.load(path)
        for k, s in enumerate(STAGES):
            sel = d["stage_label"] == k
            if not sel.any():
                continue
            errs = d["error_deg"][sel].ravel()
            frac, edges = error_histogram(errs, n_bins)
            rows += [
                {"task": task, "stage": s, "bin_lo_deg": lo, "bin_hi_deg": hi, "fraction": f}
                for lo, hi, f in zip(edges[:-1], edges[1:], frac, strict=False)
            ]
            metrics["saccade_error_deg"].setdefault(task, {})[s] = {
                "median": float(np.median(errs)),
                "fraction_below_36": float(np.mean(errs < 36.0)),
                "perf": float(d["correct"][sel].mean()),
            }
        if "distractor_correct" in d and d["distractor_correct"].size:
            dist_rows = []
            for k, s in enumerate(STAGES):
                sel = d["stage_label"] == k
                if not sel.any():
                    continue
                by_d = perf_by_distance(d["distractor_correct"][sel]).mean(0)
                metrics["distractor"][s] = [float(v) for v in by_d]
                dist_rows += [
                    {"stage": s, "distance_loc": i, "distance_deg": 45 * i, "perf": float(v)}
                    for i, v in enumerate(by_d)
                ]
            write_csv(distractor_csv, dist_rows, ["stage", "distance_loc", "distance_deg", "perf"])
    if not metrics["distractor"]:
        write_csv(distractor_csv, [], ["stage", "distance_loc", "distance_deg", "perf"])
    write_csv(hist_csv, rows, ["task", "stage", "bin_lo_deg", "bin_hi_deg", "fraction"])
    write_json(metrics_path, metrics)
    return metrics
