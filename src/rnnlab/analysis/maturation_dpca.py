"""Demixed PCA (Kobak et al. 2016) in plain numpy, for labels "st" (stimulus, time).

For trial-averaged, unit-centred data X (N, S, T) the marginalisations are
X_t = ⟨X⟩_s, X_s = ⟨X⟩_t, X_st = X − X_t − X_s (each broadcast to (N, S·T)). For each
marginalisation φ, reduced-rank ridge regression of X_φ on X:
B = X_φ Xᵀ (X Xᵀ + λI)⁻¹, U_q = top-q left singular vectors of B X,
encoder F = U_q, decoder D = U_q ᵀB, components Z = D X. λ = ``regulariser`` · ‖X‖²_F
(fixed; the dpca package picks it by cross-validation over single trials).

Replaces the ``dpca`` package (numba, numexpr, prints to stdout); tested on synthetic data
with known components.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnlab.analysis.maturation_stages import STAGES, stage_or_fallback
from rnnlab.io import atomic_write_npz, write_json

MARGINALISATIONS = ("t", "s", "st")


def marginalise(x: np.ndarray) -> dict[str, np.ndarray]:
    """(N, S, T) centred data -> marginalisations, each (N, S, T)."""
    x_t = np.broadcast_to(x.mean(1, keepdims=True), x.shape)
    x_s = np.broadcast_to(x.mean(2, keepdims=True), x.shape)
    return {"t": np.array(x_t), "s": np.array(x_s), "st": x - x_t - x_s}


def dpca_fit(
    x: np.ndarray, n_components: int = 3, regulariser: float = 1e-4
) -> dict[str, dict[str, np.ndarray]]:
    """Fit dPCA on (N, S, T) data (centred per unit here). Returns per marginalisation
    ``encoder`` (N, q), ``decoder`` (q, N), ``components`` (q, S, T) and
    ``explained_variance`` (q,) as fractions of the total variance."""
    x = np.asarray(x, np.float64)
    if x.ndim != 3:
        raise ValueError(f"dPCA needs (units, stimuli, time) data, got shape {x.shape}")
    n, s, t = x.shape
    x = x - x.reshape(n, -1).mean(1)[:, None, None]
    xf = x.reshape(n, -1)
    total = float((xf**2).sum())
    if total == 0:
        raise ValueError("dPCA: data have zero variance")
    q = min(n_components, n)
    cov = xf @ xf.T + regulariser * total * np.eye(n)
    cov_inv = np.linalg.inv(cov)
    out: dict[str, dict[str, np.ndarray]] = {}
    for name, xm in marginalise(x).items():
        xmf = xm.reshape(n, -1)
        b = xmf @ xf.T @ cov_inv
        u, _, _ = np.linalg.svd(b @ xf, full_matrices=False)
        enc = u[:, :q]
        dec = enc.T @ b
        z = dec @ xf
        ev = np.array(
            [
                (float((xmf**2).sum()) - float(((xmf - np.outer(enc[:, k], z[k])) ** 2).sum()))
                / total
                for k in range(q)
            ]
        )
        out[name] = {
            "encoder": enc,
            "decoder": dec,
            "components": z.reshape(q, s, t),
            "explained_variance": ev,
        }
    return out


def dpca_stage(
    params: dict[str, Any], activity_path: str, *, npz_path: str, metrics_path: str
) -> dict[str, Any]:
    """Stage ``maturation_dpca``: dPCA of the mature representative network of one task."""
    d = np.load(activity_path)
    if d["rep_rates"].shape[0] == 0:
        raise ValueError(f"{activity_path}: no representative activity (detail_tasks?)")
    k = stage_or_fallback(d["rep_trials"], params["stage"])
    rates = d["rep_rates"][k].astype(np.float64)  # (trials, T, N)
    locs = d["locations"]
    use = [int(v) for v in params["locations"]] or sorted(np.unique(locs).tolist())
    r = np.stack([rates[locs == q].mean(0) for q in use], 0)  # (S, T, N)
    fit = dpca_fit(r.transpose(2, 0, 1), int(params["n_components"]), params["regulariser"])
    dt_s = float(d["dt_ms"]) / 1000.0
    arrays: dict[str, np.ndarray] = {
        "time_s": (np.arange(rates.shape[1]) + 1) * dt_s,
        "locations": np.array(use),
    }
    metrics: dict[str, Any] = {
        "trials": int(d["rep_trials"][k]),
        "stage": STAGES[k],
        "explained_variance": {},
    }
    for m in MARGINALISATIONS:
        arrays[f"{m}_components"] = fit[m]["components"]
        arrays[f"{m}_explained_variance"] = fit[m]["explained_variance"]
        metrics["explained_variance"][m] = fit[m]["explained_variance"].tolist()
    atomic_write_npz(npz_path, arrays)
    write_json(metrics_path, metrics)
    return metrics
