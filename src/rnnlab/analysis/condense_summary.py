"""Stage ``condense_summary``: the condense study over all networks (reference condense.md §6).

One table over methods (their across-network aggregates), one over networks × methods, the
similarity between the independently trained originals and, per network, between the
original and the size sweep's networks (trained from scratch with another seed).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from rnnlab.analysis.condense_battery import linear_cka, procrustes_distance
from rnnlab.analysis.condense_stage import reference_rates, similarity_to_reference
from rnnlab.io import load_checkpoint, read_json, write_csv, write_json
from rnnlab.models.ctrnn import CTRNN
from rnnlab.train.csg import load_trained_csg


def summary_stage(
    evaluation: dict[str, Any],
    *,
    checkpoint_paths: Mapping[str, str],
    original_metrics_paths: Mapping[str, str],
    sweep_metrics_paths: Mapping[str, str],
    sweep_models_paths: Mapping[str, str],
    method_metrics_paths: Mapping[str, str],
    metrics_path: str,
    table_path: str,
    networks_table_path: str,
) -> dict[str, Any]:
    """Stage ``condense_summary``: the methods over all networks, the networks themselves.

    ``*_paths`` map a network seed (string) to that network's file; ``method_metrics_paths``
    maps a method to its across-network file (:mod:`rnnlab.analysis.condense_aggregate`).
    Independently trained originals are compared pairwise by the same CKA / Procrustes
    measure as the reduced networks, and each original with its own size sweep's networks
    (trained from scratch with another seed), so a reduced network's similarity can be read
    against how different two independently trained networks already are (condense.md §6).
    """
    torch.set_num_threads(1)
    seeds = sorted(checkpoint_paths, key=int)
    refs: dict[str, np.ndarray] = {}
    task = None
    units = set()
    for s in seeds:
        model, task, _ = load_trained_csg(checkpoint_paths[s])
        refs[s] = reference_rates(model, task, evaluation)
        units.add(int(model.config.n_hidden))
    pairwise = {}
    for i, a in enumerate(seeds):
        for b in seeds[i + 1 :]:
            pairwise[f"{a}-{b}"] = {
                "cka": linear_cka(refs[a], refs[b]),
                "procrustes": procrustes_distance(refs[a], refs[b])["angular"],
            }
    baseline: dict[str, dict[str, dict[str, float]]] = {}
    for s in seeds:
        baseline[s] = {}
        for key, ck in load_checkpoint(sweep_models_paths[s])["models"].items():
            net = CTRNN.from_checkpoint(ck)
            net.eval()
            cka, proc = similarity_to_reference(refs[s], net, task, evaluation)
            baseline[s][key[1:]] = {"cka": cka, "procrustes": proc}
    originals = {}
    for s in seeds:
        m = read_json(original_metrics_paths[s])
        originals[s] = {
            k: m.get(k)
            for k in (
                "solution_class",
                "mare",
                "si_mean",
                "participation_ratio",
                "linear_fraction",
                "speed_slope_b",
            )
        }
    sweeps = {s: read_json(p) for s, p in sweep_metrics_paths.items()}
    n0 = str(max(units))
    rows, net_rows = [], []
    for method, path in method_metrics_paths.items():
        m = read_json(path)
        rows.append(
            {
                "method": method,
                "size_axis": m["size_axis"],
                "n_networks": m["n_networks"],
                "smallest_units_within_10pct": m["smallest_units_within_10pct"],
                "smallest_before_finetune": m["smallest_units_within_10pct_before_finetune"],
                "n_within": m["n_within"],
                "still_scales": m["still_scales"],
                "n_still_scales": m["n_still_scales"],
                "median_cka_to_original": m["median_cka_to_original"],
            }
        )
        for s, pn in m["per_network"].items():
            net_rows.append({"network": int(s), "method": method, **pn})
    write_csv(table_path, rows, list(rows[0].keys()))
    net_rows.sort(key=lambda r: (r["network"], list(method_metrics_paths).index(r["method"])))
    write_csv(networks_table_path, net_rows, list(net_rows[0].keys()))
    ckas = [p["cka"] for p in pairwise.values()]
    same = {s: baseline[s].get(n0) for s in seeds}
    same_cka = [v["cka"] for v in same.values() if v]
    metrics = {
        "networks": [int(s) for s in seeds],
        "n_networks": len(seeds),
        "original_units": int(n0),
        "originals": originals,
        "original_classes": dict(
            sorted(Counter(o["solution_class"] for o in originals.values()).items())
        ),
        "original_pairwise": pairwise,
        "original_cka_median": float(np.median(ckas)) if ckas else None,
        "original_cka_range": [float(min(ckas)), float(max(ckas))] if ckas else None,
        "seed_baseline": baseline,
        "seed_baseline_same_size": same,
        "seed_baseline_same_size_median_cka": float(np.median(same_cka)) if same_cka else None,
        "size_sweep_classes": {
            s: dict(zip((str(u) for u in sw["sizes"]), sw["classes"], strict=True))
            for s, sw in sorted(sweeps.items(), key=lambda kv: int(kv[0]))
        },
        "methods": {r["method"]: r for r in rows},
    }
    write_json(metrics_path, metrics)
    return metrics
