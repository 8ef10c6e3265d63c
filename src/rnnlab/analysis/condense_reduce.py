"""Rules that shrink a trained rate RNN (reference condense.md §2).

All methods work on plain weight dicts (``rec`` (N, N), ``in`` (N, I), ``b_rec`` (N,),
``out`` (O, N), ``b_out`` (O,)) and on rates ``R`` (samples, N) recorded from the network on
task trials, and return a new weight dict:

- :func:`random_deletion` — keep a random subset of units, drop the rest (no compensation);
- :func:`pair_merge` — the seed project's rule: pick the most similar pair of units (rate
  correlation, or cosine of their loadings on the top PCs), move the deleted unit's
  *outgoing* weights onto its partner and delete it. With ``scale="sum"`` the weights are
  added as they are (the original); ``scale="regression"`` uses r_j ≈ a r_i + b, i.e.
  W[:, i] += a W[:, j], b += b W[:, j], w_o[i] += a w_o[j], which is exact when the rates
  are affinely related. Incoming weights of the deleted unit are discarded (as in the
  original);
- :func:`ls_prune` — least-squares-compensated pruning: choose the kept set K by pivoted
  QR of the rates (Q-DEIM-style: the units that best span the population activity), then
  refit the kept units' recurrent input and the readout so that ``W R ≈ W̃ R_K + c``
  (ridge-regularised, with an affine term that goes into the biases);
- :func:`svd_truncate` — rank-r truncation of W_rec (the unit count stays; the *rank*
  is the size axis).

The iterative merge-and-retrain loop lives in :mod:`rnnlab.analysis.condense_stage`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.linalg import qr

Weights = dict[str, np.ndarray]
RatesFn = Callable[[Weights], np.ndarray]


def _check(w: Weights) -> int:
    n = int(np.asarray(w["rec"]).shape[0])
    if w["rec"].shape != (n, n) or w["in"].shape[0] != n or w["b_rec"].shape != (n,):
        raise ValueError("weights: rec must be (N, N), in (N, I), b_rec (N,)")
    if w["out"].shape[1] != n:
        raise ValueError("weights: out must be (O, N)")
    return n


def keep_units(w: Weights, keep: np.ndarray) -> Weights:
    """The sub-network of units ``keep`` (in that order), nothing compensated."""
    _check(w)
    k = np.asarray(keep, dtype=int)
    if k.size < 1 or len(set(k.tolist())) != k.size:
        raise ValueError("keep_units: keep must be non-empty and without repeats")
    return {
        "rec": w["rec"][np.ix_(k, k)].copy(),
        "in": w["in"][k].copy(),
        "b_rec": w["b_rec"][k].copy(),
        "out": w["out"][:, k].copy(),
        "b_out": w["b_out"].copy(),
    }


def random_deletion(w: Weights, n_keep: int, rng: np.random.Generator) -> Weights:
    """Keep ``n_keep`` units drawn uniformly without replacement (sorted), drop the rest."""
    n = _check(w)
    if not 1 <= n_keep <= n:
        raise ValueError(f"random_deletion: n_keep must be in [1, {n}], got {n_keep}")
    return keep_units(w, np.sort(rng.choice(n, size=n_keep, replace=False)))


# --- pair merging -------------------------------------------------------------------------
def unit_similarity(rates: np.ndarray, criterion: str, n_pcs: int = 5) -> np.ndarray:
    """(N, N) similarity between units, diagonal −inf.

    ``correlation``: |Pearson r| of the rate time courses. ``pca``: |cosine| between the
    units' loading vectors on the top ``n_pcs`` principal components (the original's "PCA
    to identify similar neurons"). Silent units (zero variance) are most similar to anything
    (similarity 1), so they go first, as merging them costs nothing.
    """
    r = np.asarray(rates, dtype=np.float64)
    r = r - r.mean(0)
    sd = r.std(0)
    if criterion == "correlation":
        z = np.where(sd > 0, r / np.where(sd > 0, sd, 1.0), 0.0)
        sim = np.abs(z.T @ z) / r.shape[0]
    elif criterion == "pca":
        _, _, vt = np.linalg.svd(r, full_matrices=False)
        load = vt[:n_pcs].T  # (N, k): each unit's loading on the top PCs
        norm = np.linalg.norm(load, axis=1)
        u = np.where(norm[:, None] > 0, load / np.where(norm > 0, norm, 1.0)[:, None], 0.0)
        sim = np.abs(u @ u.T)
    else:
        raise ValueError(
            f"unit_similarity: criterion must be correlation or pca, got {criterion!r}"
        )
    silent = sd <= 1e-12
    sim[silent, :] = 1.0
    sim[:, silent] = 1.0
    np.fill_diagonal(sim, -np.inf)
    return sim


def merge_pair(w: Weights, keep_i: int, drop_j: int, a: float = 1.0, b: float = 0.0) -> Weights:
    """Move unit j's outgoing weights onto unit i (scaled by a, offset b), delete j.

    Exact when r_j = a r_i + b at all times: W[:, i] += a W[:, j], b_rec += b W[:, j],
    w_out[:, i] += a w_out[:, j], b_out += b w_out[:, j]. Returned units keep their order.
    """
    n = _check(w)
    if keep_i == drop_j or not (0 <= keep_i < n and 0 <= drop_j < n):
        raise ValueError("merge_pair: need two distinct valid unit indices")
    rec = w["rec"].copy()
    b_rec = w["b_rec"].copy()
    out = w["out"].copy()
    b_out = w["b_out"].copy()
    rec[:, keep_i] += a * rec[:, drop_j]
    b_rec += b * rec[:, drop_j]
    out[:, keep_i] += a * out[:, drop_j]
    b_out += b * out[:, drop_j]
    merged = {"rec": rec, "in": w["in"], "b_rec": b_rec, "out": out, "b_out": b_out}
    keep = np.array([k for k in range(n) if k != drop_j])
    return keep_units(merged, keep)


def _affine_fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares a, b in y ≈ a x + b (a = 0 for a constant x)."""
    vx = x.var()
    if vx <= 1e-15:
        return 0.0, float(y.mean())
    a = float(np.mean((x - x.mean()) * (y - y.mean())) / vx)
    return a, float(y.mean() - a * x.mean())


def merge_round(
    w: Weights, rates: np.ndarray, n_pairs: int, criterion: str, scale: str, n_pcs: int = 5
) -> Weights:
    """Merge up to ``n_pairs`` disjoint most-similar pairs (greedy), using ``rates``."""
    if scale not in ("sum", "regression"):
        raise ValueError(f"merge_round: scale must be sum or regression, got {scale!r}")
    n = _check(w)
    sim = unit_similarity(rates, criterion, n_pcs)
    iu = np.triu_indices(n, 1)
    order = np.argsort(-sim[iu], kind="stable")
    used: set[int] = set()
    pairs: list[tuple[int, int]] = []
    for idx in order:
        i, j = int(iu[0][idx]), int(iu[1][idx])
        if i in used or j in used:
            continue
        pairs.append((i, j))
        used.update((i, j))
        if len(pairs) >= n_pairs:
            break
    # delete from the highest index down so earlier indices stay valid
    pairs.sort(key=lambda p: -max(p))
    out = w
    for i, j in pairs:
        keep_i, drop_j = (i, j) if i < j else (j, i)
        a, b = (1.0, 0.0)
        if scale == "regression":
            a, b = _affine_fit(rates[:, keep_i], rates[:, drop_j])
        out = merge_pair(out, keep_i, drop_j, a, b)
        rates = np.delete(rates, drop_j, axis=1)
    return out


def pair_merge(
    w: Weights,
    rates_fn: RatesFn,
    n_keep: int,
    *,
    criterion: str = "correlation",
    scale: str = "sum",
    pairs_per_round: int = 10,
    n_pcs: int = 5,
) -> Weights:
    """Merge pairs in rounds until ``n_keep`` units remain; rates re-recorded every round
    with ``rates_fn`` (the network changes after each round), no retraining."""
    n = _check(w)
    if not 1 <= n_keep <= n:
        raise ValueError(f"pair_merge: n_keep must be in [1, {n}], got {n_keep}")
    while _check(w) > n_keep:
        k = min(pairs_per_round, _check(w) - n_keep)
        w = merge_round(w, rates_fn(w), k, criterion, scale, n_pcs)
    return w


# --- least-squares compensated pruning ----------------------------------------------------
def select_units_qr(rates: np.ndarray, n_keep: int) -> np.ndarray:
    """Q-DEIM-style selection: the first ``n_keep`` pivots of QR with column pivoting on the
    centred rates (samples, N), i.e. units that best span the population activity."""
    r = np.asarray(rates, dtype=np.float64)
    _, _, piv = qr(r - r.mean(0), mode="economic", pivoting=True)
    return np.sort(piv[:n_keep])


def ls_prune(
    w: Weights,
    rates: np.ndarray,
    n_keep: int,
    *,
    ridge: float = 1e-3,
    keep: np.ndarray | None = None,
) -> Weights:
    """Keep ``n_keep`` units (QR-selected unless ``keep`` given) and refit their recurrent
    input and the readout by ridge least squares on ``rates`` (samples, N).

    With R_K1 = [R_K, 1]: M = argmin ‖R W[K, :]ᵀ − R_K1 M‖² + λ‖M‖², λ = ridge · mean
    diag(R_K1ᵀ R_K1); W̃_KK = M[:-1]ᵀ, b̃_K = b_K + M[-1]. Same for the readout. Exact
    (up to the ridge) when the dropped units' rates are affine in the kept ones.
    """
    n = _check(w)
    if not 1 <= n_keep <= n:
        raise ValueError(f"ls_prune: n_keep must be in [1, {n}], got {n_keep}")
    r = np.asarray(rates, dtype=np.float64)
    if r.ndim != 2 or r.shape[1] != n:
        raise ValueError(f"ls_prune: rates must be (samples, {n})")
    k = select_units_qr(r, n_keep) if keep is None else np.sort(np.asarray(keep, dtype=int))
    rk1 = np.concatenate([r[:, k], np.ones((r.shape[0], 1))], 1)
    gram = rk1.T @ rk1
    lam = ridge * float(np.mean(np.diag(gram)))
    lhs = gram + lam * np.eye(gram.shape[0])
    rec_target = r @ w["rec"][k].T  # (samples, K): recurrent input to the kept units
    out_target = r @ w["out"].T  # (samples, O)
    m_rec = np.linalg.solve(lhs, rk1.T @ rec_target)  # (K+1, K)
    m_out = np.linalg.solve(lhs, rk1.T @ out_target)  # (K+1, O)
    return {
        "rec": m_rec[:-1].T.copy(),
        "in": w["in"][k].copy(),
        "b_rec": w["b_rec"][k] + m_rec[-1],
        "out": m_out[:-1].T.copy(),
        "b_out": w["b_out"] + m_out[-1],
    }


# --- low rank -----------------------------------------------------------------------------
def svd_truncate(w: Weights, rank: int) -> Weights:
    """W_rec replaced by its best rank-``rank`` approximation (Eckart–Young); rest kept."""
    n = _check(w)
    if not 0 <= rank <= n:
        raise ValueError(f"svd_truncate: rank must be in [0, {n}], got {rank}")
    u, s, vt = np.linalg.svd(w["rec"])
    out = {k: np.array(v, copy=True) for k, v in w.items()}
    out["rec"] = (u[:, :rank] * s[:rank]) @ vt[:rank]
    return out
