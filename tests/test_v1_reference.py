"""The reference's debug configuration with ``legacy: true`` against its one-seed numbers (B8).

Reference (circuits.md B8, original code, debug_config, 5 simulations, numpy global seeds):
after learning OS = [0.32, 0.56, 0.11, 0.15], DS = [0.82, 0.78, 0.73, 0.65],
OS_paper = [0.54, 0.70, 0.35, 0.37], mean rate = [0.32, 0.21, 1.23, 0.68] for CS, CC, PV, SST.

Tolerance: 0.15 on every index and on mean rates. Why: our draws come from a different random
stream (numpy Generator children per simulation, a different draw order), so only statistical
agreement is possible. Measured (drafts/v1/NOTES.md): with 5 simulations per set the
seed-to-seed SD of the population means is 0.02-0.04, and over seeds 50-53 the largest gaps to
the reference were 0.12 (CC OS, ours lower) and 0.10 (SST DS, ours lower); PV/SST DS sit
~0.07 below the reference on every seed, and CC/PV mean rates ~0.06/0.1 lower (0.14 vs 0.21,
1.12-1.18 vs 1.23): offsets we could not trace to a difference in the equations (open).
This test runs the first 3 simulations of seed 50 with the recursive threshold (identical
window, rectangle rule; ~3x faster than Simpson; 5-sim indices within 0.002) to stay within
the file-time budget; it is deterministic, so it checks that the legacy pipeline keeps
producing reference-like selectivity.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import yaml
from conftest import ROOT
from threadpoolctl import threadpool_limits

from rnnlab.analysis.v1_selectivity import run_and_evaluate

REF = {
    "Mean_of_OS": [0.32, 0.56, 0.11, 0.15],
    "Mean_of_DS": [0.82, 0.78, 0.73, 0.65],
    "Mean_of_OS_p": [0.54, 0.70, 0.35, 0.37],
    "Mean_act": [0.32, 0.21, 1.23, 0.68],
}
TOL = {"Mean_of_OS": 0.15, "Mean_of_DS": 0.15, "Mean_of_OS_p": 0.15, "Mean_act": 0.15}


def default_simulate() -> dict:
    """The default (= the reference's debug_config) simulate section, wherever it lives now."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    if "v1" in params:
        return copy.deepcopy(params["v1"]["simulate"])
    return yaml.safe_load((ROOT / "drafts" / "v1" / "params.yaml").read_text())["simulate"]


@pytest.mark.slow
def test_debug_config_legacy_close_to_reference():
    p = default_simulate()
    assert p["network"]["n_per_population"] == [45, 275, 46, 34]
    assert p["stimulus"]["amplitude"] == [6.0, 5.0, 10.0, 5.0]
    p.update(legacy=True, seed=50, n_simulations=3)
    p["plasticity"]["threshold_quadrature"] = "recursive"
    with threadpool_limits(limits=1):
        _, result = run_and_evaluate(p)
    after = result["tables"]["after"]
    for row, ref in REF.items():
        gap = np.abs(after[row] - np.asarray(ref))
        assert np.all(gap <= TOL[row]), f"{row}: ours {np.round(after[row], 3)}, reference {ref}"
    assert result["qc"]["nan_runs"] == 0
