"""Per-network seeds: one base seed in params, one independent stream per network.

A study that trains several networks (``condense.network_seeds``) derives every random
draw of network ``n`` from ``numpy.random.SeedSequence([base_seed, n])``: the base seed
stays in ``params.yaml``, the network seed is in the output path
(``results/condense/net<n>/…``), so every draw is derivable from params, network 0 is not
the old single network, and two networks never share a stream.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import numpy as np


def derive_seed(base_seed: int, network_seed: int) -> int:
    """The seed of one network's draw: the first uint32 word of
    ``SeedSequence([base_seed, network_seed])`` (both non-negative ints)."""
    if int(base_seed) < 0 or int(network_seed) < 0:
        raise ValueError(f"seeds must be >= 0, got base {base_seed}, network {network_seed}")
    seq = np.random.SeedSequence([int(base_seed), int(network_seed)])
    return int(seq.generate_state(1, dtype=np.uint32)[0])


def with_network_seed(
    section: Mapping[str, Any], path: str, network_seed: int | None
) -> dict[str, Any]:
    """A deep copy of ``section`` whose seed at the dotted ``path`` is derived for
    ``network_seed`` (``None``: the section unchanged, the single-network behaviour)."""
    out = copy.deepcopy(dict(section))
    if network_seed is None:
        return out
    *parents, key = path.split(".")
    node = out
    for p in parents:
        node = node[p]
    node[key] = derive_seed(int(node[key]), int(network_seed))
    return out
