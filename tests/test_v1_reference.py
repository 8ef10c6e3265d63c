"""The reference's debug configuration with ``legacy: true`` against the original's statistics.

Reference: the original code (Jieran-S/L5Neuron_RateModel, debug_config, Slide_BCM, 5 simulations
per run) run directly for 13 numpy seeds (0-11 and 42), 65 networks in all (README, V1 section).
Per network (one simulation), after learning, CS / CC / PV / SST, mean ± SD over the 65:

* OS       0.309 ± 0.074, 0.476 ± 0.061, 0.133 ± 0.027, 0.122 ± 0.035
* DS       0.769 ± 0.051, 0.796 ± 0.039, 0.645 ± 0.047, 0.554 ± 0.062
* OS_paper 0.522 ± 0.057, 0.646 ± 0.040, 0.352 ± 0.021, 0.316 ± 0.030
* rate     0.331 ± 0.065, 0.166 ± 0.045, 1.166 ± 0.065, 0.722 ± 0.057

circuits.md B8's "one-seed" numbers (OS 0.32 / 0.56 / 0.11 / 0.15, DS 0.82 / 0.78 / 0.73 / 0.65)
are the first of those networks alone (simulation 0 of seed 42; reproduced to the 2 decimals
given), not a 5-simulation mean: they sit 0.1-1.8 network SDs from the original's means, which
is why our 5-simulation means looked "consistently lower" against them.

Our draws come from a different random stream, so the comparison is statistical: the mean of
our 3 simulations (seed 50, recursive threshold to stay within the file-time budget; it changes
5-simulation indices by < 0.002) must lie within 3 SDs of a 3-network mean, i.e. sqrt(3) times
the per-network SD above (rounded up). Given the same realised network, ours and the original
agree to 4e-15 in the rates (README); the loop semantics are pinned by the naive-loop test in
test_v1.py.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import yaml
from conftest import ROOT
from threadpoolctl import threadpool_limits

from rnnlab.analysis.v1_selectivity import run_and_evaluate

ORIGINAL_MEAN = {
    "Mean_of_OS": [0.309, 0.476, 0.133, 0.122],
    "Mean_of_DS": [0.769, 0.796, 0.645, 0.554],
    "Mean_of_OS_p": [0.522, 0.646, 0.352, 0.316],
    "Mean_act": [0.331, 0.166, 1.166, 0.722],
}
ORIGINAL_SD_PER_NETWORK = {
    "Mean_of_OS": [0.074, 0.061, 0.027, 0.035],
    "Mean_of_DS": [0.051, 0.039, 0.047, 0.062],
    "Mean_of_OS_p": [0.057, 0.040, 0.021, 0.030],
    "Mean_act": [0.065, 0.045, 0.065, 0.057],
}
N_SIMULATIONS = 3


def default_simulate() -> dict:
    """The default (= the reference's debug_config) simulate section."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    return copy.deepcopy(params["v1"]["simulate"])


@pytest.mark.slow
def test_debug_config_legacy_matches_original_statistics():
    p = default_simulate()
    assert p["network"]["n_per_population"] == [45, 275, 46, 34]
    assert p["stimulus"]["amplitude"] == [6.0, 5.0, 10.0, 5.0]
    p.update(legacy=True, seed=50, n_simulations=N_SIMULATIONS)
    p["plasticity"]["threshold_quadrature"] = "recursive"
    with threadpool_limits(limits=1):
        _, result = run_and_evaluate(p)
    after = result["tables"]["after"]
    for row, mean in ORIGINAL_MEAN.items():
        tol = 3.0 * np.asarray(ORIGINAL_SD_PER_NETWORK[row]) / np.sqrt(N_SIMULATIONS)
        gap = np.abs(after[row] - np.asarray(mean))
        assert np.all(gap <= np.ceil(tol * 100) / 100), (
            f"{row}: ours {np.round(after[row], 3)}, original {mean}, tolerance {np.round(tol, 3)}"
        )
    assert result["qc"]["nan_runs"] == 0
