"""Across-network aggregates of the condense study (one trained network says little).

Each network ``n`` in ``condense.network_seeds`` is condensed on its own
(``results/condense/net<n>/<method>/metrics.json``); this module turns those per-network
answers into the results-contract file ``results/condense/<method>/metrics.json``:

- ``smallest_units_within_10pct``: the median over networks of each network's smallest
  size within tolerance, with "never within" ranked above every size. With an even number
  of networks the median is the mean of the two middle values; if either of them is
  "never", so is the median (``null``).
- ``still_scales``: true when a strict majority of networks still scales.
- ``fraction_within``, ``fraction_still_scales``, ``n_networks`` and ``per_network``
  (network seed → that network's own values).
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from rnnlab.io import read_json, write_json

PER_NETWORK_KEYS = (
    "smallest_units_within_10pct",
    "smallest_units_within_10pct_before_finetune",
    "still_scales",
    "same_class_as_original",
    "selected_size",
    "original_task_error",
    "original_class",
)


def median_smallest(values: Sequence[int | float | None]) -> int | float | None:
    """Median of per-network smallest sizes; ``None`` ("never within") ranks above all
    sizes, and a median that is never is returned as ``None``."""
    if not values:
        raise ValueError("median of no networks")
    ranked = sorted(math.inf if v is None else float(v) for v in values)
    n = len(ranked)
    mid = ranked[n // 2] if n % 2 else (ranked[n // 2 - 1] + ranked[n // 2]) / 2.0
    if math.isinf(mid):
        return None
    return int(mid) if float(mid).is_integer() else float(mid)


def strict_majority(flags: Sequence[bool]) -> bool:
    """True when more than half of ``flags`` are true (a tie is not a majority)."""
    if not flags:
        raise ValueError("majority of no networks")
    return 2 * sum(bool(f) for f in flags) > len(flags)


def aggregate_method(per_network: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The across-network metrics of one method from its per-network metrics
    (network seed as string → that network's ``metrics.json`` content)."""
    if not per_network:
        raise ValueError("no networks to aggregate")
    seeds = sorted(per_network, key=int)
    nets = [per_network[s] for s in seeds]
    smallest = [m["smallest_units_within_10pct"] for m in nets]
    before = [m.get("smallest_units_within_10pct_before_finetune") for m in nets]
    scales = [bool(m["still_scales"]) for m in nets]
    n = len(nets)
    classes = [m.get("selected", {}).get("solution_class") for m in nets]
    ckas = [float(m["selected"]["cka_to_original"]) for m in nets if "selected" in m]
    return {
        "method": nets[0].get("method"),
        "size_axis": nets[0].get("size_axis"),
        "n_networks": n,
        "networks": [int(s) for s in seeds],
        "smallest_units_within_10pct": median_smallest(smallest),
        "smallest_units_within_10pct_before_finetune": median_smallest(before),
        "still_scales": strict_majority(scales),
        "n_within": sum(v is not None for v in smallest),
        "n_still_scales": sum(scales),
        "fraction_within": sum(v is not None for v in smallest) / n,
        "fraction_still_scales": sum(scales) / n,
        "selected_classes": dict(sorted(Counter(str(c) for c in classes).items())),
        "median_cka_to_original": statistics.median(ckas) if ckas else None,
        "per_network": {
            s: {
                **{k: m.get(k) for k in PER_NETWORK_KEYS},
                "solution_class": m.get("selected", {}).get("solution_class"),
                "task_error": m.get("selected", {}).get("mare"),
                "cka_to_original": m.get("selected", {}).get("cka_to_original"),
            }
            for s, m in zip(seeds, nets, strict=True)
        },
    }


def aggregate_stage(
    method_metrics_paths: Mapping[str, Mapping[str, str]], metrics_paths: Mapping[str, str]
) -> dict[str, dict[str, Any]]:
    """Stage ``condense_aggregate``: per method, read every network's metrics and write the
    across-network contract file. ``method_metrics_paths``: method → network seed → path."""
    out = {}
    for method, paths in method_metrics_paths.items():
        agg = aggregate_method({str(s): read_json(p) for s, p in paths.items()})
        write_json(metrics_paths[method], agg)
        out[method] = agg
    return out
