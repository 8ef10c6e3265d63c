"""Cross-temporal decoding of the cue location (maturation.md §6, Decoder_analysis).

Windows of ``window_ms`` (200 ms) every ``stride_ms`` (20 ms, rounded to whole steps);
features = window-mean rates; sklearn SVC with defaults (RBF, C = 1, gamma "scale"),
features not standardised, as the original. Split per location: the first ``n_test``
repeats test, the rest train.

Fix of the original's leakage: the original scored off-diagonal windows on *all* trials,
including the training ones; here every (train window i, test window j) cell is scored on
the held-out test trials only, so the whole matrix is out-of-sample.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from sklearn.svm import SVC

from rnnlab.analysis.maturation_stages import STAGES
from rnnlab.io import atomic_write_npz, write_json

log = logging.getLogger(__name__)


def windows(n_steps: int, dt_ms: float, window_ms: float, stride_ms: float) -> np.ndarray:
    """(W, 2) step ranges of the sliding windows."""
    w = max(1, int(round(window_ms / dt_ms)))
    s = max(1, int(round(stride_ms / dt_ms)))
    starts = np.arange(0, n_steps - w + 1, s)
    return np.stack([starts, starts + w], 1)


def split_by_location(locations: np.ndarray, n_test: int) -> tuple[np.ndarray, np.ndarray]:
    """Boolean (train, test) masks: the first ``n_test`` repeats of each location test."""
    locations = np.asarray(locations)
    test = np.zeros(locations.size, bool)
    for loc in np.unique(locations):
        idx = np.flatnonzero(locations == loc)
        if idx.size <= n_test:
            raise ValueError(f"location {loc} has {idx.size} trials, need > n_test={n_test}")
        test[idx[:n_test]] = True
    return ~test, test


def cross_temporal_accuracy(
    rates: np.ndarray,
    labels: np.ndarray,
    win: np.ndarray,
    train_mask: np.ndarray,
    test_mask: np.ndarray,
) -> np.ndarray:
    """(W, W) accuracy: SVC trained on window i (train trials), scored on window j (test)."""
    feats = np.stack([rates[:, a:b].mean(1) for a, b in win])  # (W, trials, N)
    acc = np.zeros((len(win), len(win)))
    for i in range(len(win)):
        clf = SVC().fit(feats[i][train_mask], labels[train_mask])
        for j in range(len(win)):
            acc[i, j] = clf.score(feats[j][test_mask], labels[test_mask])
    return acc


def decoding_stage(
    params: dict[str, Any], activity_path: str, *, npz_path: str, metrics_path: str
) -> dict[str, Any]:
    """Stage ``maturation_decoding``: cross-temporal matrices of each stage's representative."""
    d = np.load(activity_path)
    dt_ms = float(d["dt_ms"])
    locs = d["locations"]
    rep = d["rep_rates"]
    if rep.shape[0] == 0:
        raise ValueError(
            f"{activity_path} holds no representative activity: add its task to "
            "maturation.activity.detail_tasks"
        )
    win = windows(rep.shape[2], dt_ms, params["window_ms"], params["stride_ms"])
    train, test = split_by_location(locs, int(params["n_test"]))
    arrays: dict[str, np.ndarray] = {"window_centre_s": win.mean(1) * dt_ms / 1000.0}
    metrics: dict[str, Any] = {"chance": 1.0 / np.unique(locs).size, "stages": {}}
    names = [str(n) for n in d["epoch_names"]]
    bounds = d["epoch_bounds"]
    for k, s in enumerate(STAGES):
        if int(d["rep_trials"][k]) < 0:
            continue
        acc = cross_temporal_accuracy(rep[k].astype(np.float64), locs, win, train, test)
        arrays[f"{s}_accuracy"] = acc
        diag = np.diag(acc)
        per_epoch = {}
        for name, (a, b) in zip(names, bounds, strict=False):
            inside = (win[:, 0] >= a) & (win[:, 1] <= b)
            per_epoch[name] = float(diag[inside].mean()) if inside.any() else None
        metrics["stages"][s] = {
            "trials": int(d["rep_trials"][k]),
            "diag_mean": float(diag.mean()),
            "diag_by_epoch": per_epoch,
            "offdiag_mean": float(acc[~np.eye(len(win), dtype=bool)].mean()),
        }
    atomic_write_npz(npz_path, arrays)
    write_json(metrics_path, metrics)
    return metrics
