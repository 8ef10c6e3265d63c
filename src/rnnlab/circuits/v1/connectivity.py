"""Connectivity of the V1 layer-5 model (circuits.md B2).

Parameter tables are indexed [pre, post] as in the reference configs; the weight matrix the
dynamics use is ``W[post, pre]`` (row = postsynaptic neuron). Population order everywhere is
CS, CC, PV, SST; CS and CC are excitatory, PV and SST inhibitory.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

POPULATIONS = ("CS", "CC", "PV", "SST")
EXCITATORY = np.array([True, True, False, False])
# Which types' mutual type-level weights are resampled (and which synapses may learn).
TRAINED_TYPES = {
    "excit_only": EXCITATORY,
    "inhibit_only": ~EXCITATORY,
    "all": np.ones(4, dtype=bool),
}
NORMALISATIONS = ("max_real_eig", "spectral_radius", "none")


def _counts(n_per_population: Sequence[int]) -> np.ndarray:
    n = np.asarray(n_per_population, dtype=np.int64)
    if n.shape != (4,) or np.any(n < 1):
        raise ValueError(f"n_per_population must be 4 positive integers, got {n_per_population}")
    return n


def population_starts(n_per_population: Sequence[int]) -> np.ndarray:
    """First neuron index of each population (for ``np.add.reduceat``)."""
    n = _counts(n_per_population)
    return np.concatenate([[0], np.cumsum(n)[:-1]])


def population_of_neuron(n_per_population: Sequence[int]) -> np.ndarray:
    """Population id (0..3) of every neuron, shape (N,)."""
    n = _counts(n_per_population)
    return np.repeat(np.arange(4), n)


def _table(values: Sequence[Sequence[float]], name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.shape != (4, 4):
        raise ValueError(f"{name}: expected a 4 x 4 [pre, post] table, got shape {arr.shape}")
    return arr


def sample_type_weights(
    w_target: Sequence[Sequence[float]],
    neurons: str,
    rel_sd: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Type-level weights w0[pre, post] for one simulation (B2 step 1).

    Starts from |w_target|; pairs with both types in the trained set (``neurons``) are
    redrawn as |N(w_target, (rel_sd |w_target|)^2)|; PV and SST rows are then negated.
    """
    target = _table(w_target, "w_target")
    if neurons not in TRAINED_TYPES:
        raise ValueError(f"neurons must be one of {sorted(TRAINED_TYPES)}, got {neurons!r}")
    trained = TRAINED_TYPES[neurons]
    pair = np.outer(trained, trained)
    draws = np.abs(rng.normal(target, rel_sd * np.abs(target)))
    w0 = np.where(pair, draws, np.abs(target))
    w0[~EXCITATORY] *= -1.0
    return w0


def in_degrees(n_per_population: Sequence[int], prob: Sequence[Sequence[float]]) -> np.ndarray:
    """K[pre, post] = round(p · N_pre) (half to even), capped at N_pre − 1 within a type."""
    n = _counts(n_per_population)
    p = _table(prob, "prob")
    if np.any((p < 0) | (p > 1)):
        raise ValueError("prob entries must lie in [0, 1]")
    k = np.round(p * n[:, None]).astype(np.int64)
    cap = n[:, None] - np.eye(4, dtype=np.int64)
    return np.minimum(k, cap)


def fixed_indegree_matrix(
    n_per_population: Sequence[int],
    prob: Sequence[Sequence[float]],
    w_type: np.ndarray,
    w_noise: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Recurrent matrix W[post, pre] with fixed in-degree per type pair (B2 steps 2-4).

    Every neuron of type b receives exactly K[a, b] partners of type a drawn without
    replacement (no autapses); each synapse is sign(w_type[a, b]) · |N(|w_type[a, b]|, w_noise²)|.
    """
    n = _counts(n_per_population)
    w_type = _table(w_type, "w_type")
    k = in_degrees(n, prob)
    starts = population_starts(n)
    total = int(n.sum())
    w = np.zeros((total, total))
    for b in range(4):  # post type
        for post in range(starts[b], starts[b] + n[b]):
            for a in range(4):  # pre type
                kab = int(k[a, b])
                if kab == 0 or w_type[a, b] == 0.0:
                    continue
                if a == b:  # exclude the autapse: draw among the other N_a − 1 and shift
                    local = rng.choice(n[a] - 1, size=kab, replace=False)
                    local[local >= post - starts[a]] += 1
                else:
                    local = rng.choice(n[a], size=kab, replace=False)
                vals = np.abs(rng.normal(abs(w_type[a, b]), w_noise, size=kab))
                w[post, starts[a] + local] = np.sign(w_type[a, b]) * vals
    return w


def normalise(w: np.ndarray, method: str = "max_real_eig") -> tuple[np.ndarray, float]:
    """Divide W by its largest real eigenvalue part (the original) or spectral radius.

    Returns ``(W / scale, scale)``. Fails if the scale is not positive (e.g. a purely
    inhibitory matrix under ``max_real_eig``).
    """
    if method not in NORMALISATIONS:
        raise ValueError(f"normalisation must be one of {NORMALISATIONS}, got {method!r}")
    if method == "none":
        return w.copy(), 1.0
    eig = np.linalg.eigvals(w)
    scale = float(np.max(eig.real)) if method == "max_real_eig" else float(np.max(np.abs(eig)))
    if not np.isfinite(scale) or scale <= 0:
        raise ValueError(f"cannot normalise by {method}: scale = {scale}")
    return w / scale, scale


def block_stats(w: np.ndarray, n_per_population: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Block mean and std (ddof 0) of W[..., post, pre] per population pair, zeros included.

    Returns two arrays of shape (..., 4, 4) indexed [post type, pre type].
    """
    n = _counts(n_per_population)
    starts = population_starts(n)
    size = np.outer(n, n).astype(np.float64)
    s1 = np.add.reduceat(np.add.reduceat(w, starts, axis=-1), starts, axis=-2)
    s2 = np.add.reduceat(np.add.reduceat(w * w, starts, axis=-1), starts, axis=-2)
    mean = s1 / size
    var = np.maximum(s2 / size - mean * mean, 0.0)
    return mean, np.sqrt(var)
