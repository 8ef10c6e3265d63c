"""Structure generators: multi-area (and multi-area E/I) masks for :class:`CTRNN`.

These re-implement nn4n 1.1.1's ``nn4n.mask.MultiArea`` / ``MultiAreaEI`` (circuits.md A6)
with a seeded ``numpy.random.Generator`` instead of NumPy's global RNG. All matrices use
CTRNN's ``W[post, pre]`` orientation: ``rec`` is (N, N), ``in`` is (N, n_input), ``out`` is
(n_output, N). (nn4n's ``get_masks()`` returns the transposes, its CTRNN wants (pre, post).)

nn4n semantics kept:

- areas are contiguous blocks of units in the order of ``area_sizes``;
- block ``[i, j]`` (post area i, pre area j) is i.i.d. Bernoulli(p) with p = ``p_within`` on the
  diagonal, ``p_forward`` for j < i (from a lower- to a higher-index area) and ``p_backward``
  for j > i; blocks with p = 0 draw nothing;
- self-connections are not removed (``autapses=True``); note that CTRNN itself zeroes the
  diagonal unless ``CTRNNConfig.autapses`` is true;
- every input channel reaches every unit of the input areas; every output reads every unit
  of the readout areas;
- E/I: in each area the first ``floor(size·e_fraction)`` units are E, the rest I;
  ``inter_area`` = [E→E, E→I, I→E, I→I] switches off that synapse type between different
  areas; ``inh_readout=False`` removes readout from I units.

Deviations from nn4n (documented choices):

- ``input_areas``/``readout_areas`` default to ``(0,)`` and ``(-1,)`` (nn4n: all areas) and
  accept negative (Python-style) indices; ``None`` still means all areas;
- the E count uses ``floor(size·e + 1e-9)`` so that float error cannot drop a unit
  (nn4n's ``int(100 * 0.29)`` is 28; here it is 29);
- the sign matrices are returned apart from the binary masks (``rec_sign``, ``out_sign``);
  nn4n stores signs in the mask itself (−1 entries), which CTRNN would read as weights;
- a full n_areas × n_areas probability matrix is not accepted (use :func:`area_connectivity`
  to see the one built from the three probabilities).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np

CTRNN_MASK_KEYS = ("rec", "in", "out", "rec_plasticity", "in_plasticity", "out_plasticity")


# --- validation ----------------------------------------------------------------------------
def _check_probability(name: str, p: float) -> float:
    p = float(p)
    if not (math.isfinite(p) and 0.0 <= p <= 1.0):
        raise ValueError(f"{name} must be a probability in [0, 1], got {p}")
    return p


def _check_sizes(area_sizes: Sequence[int]) -> list[int]:
    sizes = list(area_sizes)
    if not sizes:
        raise ValueError("area_sizes must list at least one area")
    for k, s in enumerate(sizes):
        if isinstance(s, bool) or int(s) != s or int(s) < 1:
            raise ValueError(f"area_sizes[{k}] must be a positive integer, got {s!r}")
    return [int(s) for s in sizes]


def _check_dim(name: str, value: int) -> int:
    if isinstance(value, bool) or int(value) != value or int(value) < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _resolve_areas(name: str, areas: Sequence[int] | None, n_areas: int) -> list[int]:
    """Area indices (negative ones counted from the end), sorted and de-duplicated."""
    if areas is None:
        return list(range(n_areas))
    out = set()
    for a in areas:
        if isinstance(a, bool) or int(a) != a:
            raise ValueError(f"{name} must hold integer area indices, got {a!r}")
        a = int(a)
        if not -n_areas <= a < n_areas:
            raise ValueError(
                f"{name}: area index {a} out of range for {n_areas} area(s) "
                f"(valid: {-n_areas}..{n_areas - 1})"
            )
        out.add(a % n_areas)
    if not out:
        raise ValueError(f"{name} must name at least one area (or be None for all areas)")
    return sorted(out)


def _check_generator(generator: Any) -> np.random.Generator:
    if not isinstance(generator, np.random.Generator):
        raise TypeError(
            "generator must be a numpy.random.Generator (e.g. np.random.default_rng(seed)), "
            f"got {type(generator).__name__}"
        )
    return generator


# --- public API -----------------------------------------------------------------------------
def area_connectivity(
    n_areas: int, p_forward: float, p_backward: float, p_within: float = 1.0
) -> np.ndarray:
    """Area-to-area connection probabilities, ``P[post_area, pre_area]`` (nn4n list form)."""
    n_areas = _check_dim("n_areas", n_areas)
    conn = np.empty((n_areas, n_areas))
    conn[np.tril_indices(n_areas, -1)] = _check_probability("p_forward", p_forward)
    conn[np.triu_indices(n_areas, 1)] = _check_probability("p_backward", p_backward)
    conn[np.diag_indices(n_areas)] = _check_probability("p_within", p_within)
    return conn


def multi_area_masks(
    area_sizes: Sequence[int],
    p_forward: float,
    p_backward: float,
    p_within: float = 1.0,
    *,
    n_input: int,
    n_output: int,
    generator: np.random.Generator,
    input_areas: Sequence[int] | None = (0,),
    readout_areas: Sequence[int] | None = (-1,),
    autapses: bool = True,
) -> dict[str, np.ndarray]:
    """Multi-area sparsity masks (nn4n ``MultiArea``) for CTRNN.

    Returns float32 0/1 masks ``rec`` (N, N), ``in`` (N, n_input), ``out`` (n_output, N) and
    ``areas`` (N,) int64, the area index of each unit. Draws are made block by block,
    post area outer, pre area inner, from ``generator`` only, so a seed fixes the result.
    Pass ``ctrnn_masks(result)`` as CTRNN's ``masks``.
    """
    sizes = _check_sizes(area_sizes)
    n_input = _check_dim("n_input", n_input)
    n_output = _check_dim("n_output", n_output)
    gen = _check_generator(generator)
    n_areas = len(sizes)
    conn = area_connectivity(n_areas, p_forward, p_backward, p_within)
    inputs = _resolve_areas("input_areas", input_areas, n_areas)
    readouts = _resolve_areas("readout_areas", readout_areas, n_areas)

    n = sum(sizes)
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    areas = np.repeat(np.arange(n_areas), sizes).astype(np.int64)
    rec = np.zeros((n, n), dtype=np.float32)
    for i in range(n_areas):
        for j in range(n_areas):
            p = conn[i, j]
            if p <= 0.0:
                continue
            block = gen.random((sizes[i], sizes[j])) < p
            rec[bounds[i] : bounds[i + 1], bounds[j] : bounds[j + 1]] = block
    if not autapses:
        np.fill_diagonal(rec, 0.0)
    in_mask = np.zeros((n, n_input), dtype=np.float32)
    in_mask[np.isin(areas, inputs), :] = 1.0
    out_mask = np.zeros((n_output, n), dtype=np.float32)
    out_mask[:, np.isin(areas, readouts)] = 1.0
    return {"rec": rec, "in": in_mask, "out": out_mask, "areas": areas}


def multi_area_ei_masks(
    area_sizes: Sequence[int],
    p_forward: float,
    p_backward: float,
    p_within: float = 1.0,
    *,
    n_input: int,
    n_output: int,
    generator: np.random.Generator,
    e_fraction: float | Sequence[float] = 0.8,
    input_areas: Sequence[int] | None = (0,),
    readout_areas: Sequence[int] | None = (-1,),
    autapses: bool = True,
    inter_area: Sequence[bool] = (True, True, True, True),
    inh_readout: bool = True,
    unit_order: Literal["area", "dale"] = "area",
) -> dict[str, Any]:
    """Multi-area masks with excitatory/inhibitory units (nn4n ``MultiAreaEI``).

    ``e_fraction`` is one value or one per area. Besides the keys of
    :func:`multi_area_masks` the result holds

    - ``signs`` (N,) float32: +1 for E, −1 for I (per presynaptic unit, i.e. per column);
    - ``rec_sign`` = ``rec · signs[None, :]`` and ``out_sign`` = ``out · signs[None, :]``:
      nn4n-style sign masks (+1/−1 where a synapse exists, 0 elsewhere);
    - ``order`` (N,) int64: for each unit, its index in area order (identity for
      ``unit_order="area"``);
    - ``e_fraction`` (float): ``n_E / N`` over the whole network.

    Unit order. ``"area"`` (nn4n): areas are contiguous, and within each area its E units
    come first. CTRNN's own Dale signs are instead "the first ``round(e_fraction·N)`` units
    are E", which matches this only for a single area. ``"dale"`` permutes the units (same
    draws, relabelled) into all E units (area by area) followed by all I units (area by
    area); then ``CTRNNConfig(e_fraction=result["e_fraction"], dale="reparam"|"project")``
    gives ``model.signs == signs`` exactly, and ``areas`` says which area each unit is in.

    CTRNN enforces Dale's law on W_rec only; ``out_sign`` (I → readout ≤ 0 in nn4n) and the
    non-negative input weights nn4n also enforces are informational here.
    """
    sizes = _check_sizes(area_sizes)
    n_areas = len(sizes)
    fractions = np.atleast_1d(np.asarray(e_fraction, dtype=float))
    if fractions.ndim != 1 or fractions.size not in (1, n_areas):
        raise ValueError(
            f"e_fraction must be a scalar or have one value per area ({n_areas}), "
            f"got shape {fractions.shape}"
        )
    if not np.all(np.isfinite(fractions) & (fractions >= 0.0) & (fractions <= 1.0)):
        raise ValueError(f"e_fraction must be in [0, 1], got {fractions.tolist()}")
    fractions = np.broadcast_to(fractions, (n_areas,))
    flags = [bool(f) for f in inter_area]
    if len(flags) != 4:
        raise ValueError(f"inter_area must have 4 flags [E->E, E->I, I->E, I->I], got {flags}")
    if unit_order not in ("area", "dale"):
        raise ValueError(f"unit_order must be 'area' or 'dale', got {unit_order!r}")

    base = multi_area_masks(
        sizes,
        p_forward,
        p_backward,
        p_within,
        n_input=n_input,
        n_output=n_output,
        generator=generator,
        input_areas=input_areas,
        readout_areas=readout_areas,
        autapses=autapses,
    )
    rec, out_mask, areas = base["rec"], base["out"], base["areas"]
    n = rec.shape[0]
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    is_e = np.zeros(n, dtype=bool)
    for a, size in enumerate(sizes):
        n_e = int(math.floor(size * fractions[a] + 1e-9))
        is_e[bounds[a] : bounds[a] + n_e] = True

    # Inter-area E/I block removal (post rows, pre columns; different areas only).
    other_area = areas[:, None] != areas[None, :]
    post_e, pre_e = is_e[:, None], is_e[None, :]
    for keep, post_is_e, pre_is_e in zip(
        flags, (True, False, True, False), (True, True, False, False), strict=True
    ):
        if not keep:
            sel = other_area & (post_e == post_is_e) & (pre_e == pre_is_e)
            rec[sel] = 0.0
    if not inh_readout:
        out_mask[:, ~is_e] = 0.0

    signs = np.where(is_e, 1.0, -1.0).astype(np.float32)
    order = np.arange(n, dtype=np.int64)
    if unit_order == "dale":
        e_first = np.lexsort((np.arange(n), areas, ~is_e))  # E before I, then area, then index
        order = order[e_first]
    result: dict[str, Any] = {
        "rec": rec[np.ix_(order, order)],
        "in": base["in"][order],
        "out": out_mask[:, order],
        "areas": areas[order],
        "signs": signs[order],
        "order": order,
        "e_fraction": float(is_e.sum()) / n,
    }
    result["rec_sign"] = result["rec"] * result["signs"][None, :]
    result["out_sign"] = result["out"] * result["signs"][None, :]
    return result


def ctrnn_masks(structure: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The entries of a structure dict that CTRNN's ``masks=`` accepts (it rejects others)."""
    return {k: np.asarray(structure[k]) for k in CTRNN_MASK_KEYS if k in structure}
