"""V1 stages: simulate outputs (contract keys and values), optuna tuning that resumes from its
SQLite file instead of restarting, the best re-run, and the figures. Tiny networks, ~3 trials."""

from __future__ import annotations

import copy
import json

import numpy as np
import optuna
import pandas as pd
import pytest
from conftest import ROOT, smoke_params

from rnnlab.analysis.v1_selectivity import v1_simulate_stage
from rnnlab.analysis.v1_tune import open_study, study_name, v1_best_stage, v1_tune_stage
from rnnlab.plots.v1 import fig_v1_stage, fig_v1_tune_stage

POPS = ("CS", "CC", "PV", "SST")
FIGS = ("weights", "selectivity", "activity", "weights_time", "rates")


def study_params() -> dict:
    import yaml

    from rnnlab.params import deep_merge

    p = smoke_params()
    if "v1" in p:
        return p["v1"]
    d = ROOT / "drafts" / "v1"
    base = yaml.safe_load((d / "params.yaml").read_text())
    return deep_merge(base, yaml.safe_load((d / "smoke.yaml").read_text()) or {})


@pytest.fixture(scope="module")
def sim_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("v1sim")
    metrics = v1_simulate_stage(study_params()["simulate"], out)
    return out, metrics


def test_simulate_stage_contract_and_values(sim_dir):
    out, metrics = sim_dir
    on_disk = json.loads((out / "metrics.json").read_text())
    assert on_disk["os"].keys() == set(POPS) and on_disk["ds"].keys() == set(POPS)
    assert isinstance(on_disk["qc"]["nan_runs"], int)
    assert isinstance(on_disk["qc"]["non_equilibrium"], int)
    for key in ("os", "ds", "os_paper"):
        assert all(0.0 <= on_disk[key][p] <= 1.0 for p in POPS)
    assert on_disk["qc"]["nan_runs"] == 0
    assert np.isfinite(on_disk["loss"])
    table = pd.read_csv(out / "selectivity.csv").set_index(["condition", "property"])
    assert table.loc[("after", "Mean_of_OS"), "CS"] == pytest.approx(on_disk["os"]["CS"])
    neurons = pd.read_csv(out / "neurons.csv")
    n_sims = study_params()["simulate"]["n_simulations"]
    n_total = sum(study_params()["simulate"]["network"]["n_per_population"])
    assert len(neurons) == n_sims * 4 * n_total
    weights = pd.read_csv(out / "weights.csv").set_index("row")
    assert list(weights.columns)[:2] == ["CS-CS", "CS-CC"]  # post-pre order
    delta = weights.loc["Mean_weight"] - weights.loc["Mean_Wini"]
    np.testing.assert_allclose(delta, weights.loc["Mean_Wdel"], atol=1e-12)


def test_simulate_stage_is_repeatable(sim_dir, tmp_path):
    out, metrics = sim_dir
    again = v1_simulate_stage(study_params()["simulate"], tmp_path)
    assert again["os"] == metrics["os"] and again["ds"] == metrics["ds"]
    assert again["loss"] == metrics["loss"]


def _tune_section(n_trials: int) -> dict:
    t = copy.deepcopy(study_params()["tune"])
    t.update(n_trials=n_trials, n_startup=2, n_simulations=1)
    return t


def _small_sim() -> dict:
    p = copy.deepcopy(study_params()["simulate"])
    p["dynamics"]["duration_tau"] = 15
    p["plasticity"]["steps_before_learning"] = 50
    p["analysis"].update(
        bin_steps=10, after_bins=3, before_bins=2, final_weight_bins=3, equilibrium_bins=1
    )
    return p


def test_tune_resumes_and_best_rerun(tmp_path):
    sim = _small_sim()
    out = tmp_path / "tune"
    first = v1_tune_stage(sim, _tune_section(2), out, out / "metrics.json", out / "trials.csv")
    assert first["trials"] == 2 and first["trials_this_run"] == 2
    trial0 = pd.read_csv(out / "trials.csv").iloc[0]  # the simulate section's own point first
    assert [trial0[k] for k in ("cs", "cc", "pv", "sst")] == sim["stimulus"]["amplitude"]
    assert trial0["tau_learn"] == pytest.approx(sim["plasticity"]["tau_learn"])
    rows_before = pd.read_csv(out / "trials.csv")
    # a killed run leaves a RUNNING trial behind: it is marked FAIL, not resumed or counted twice
    name = study_name(sim, _tune_section(3))
    study = open_study(out / "study.db", name, 0, 2)
    study.ask()
    second = v1_tune_stage(sim, _tune_section(3), out, out / "metrics.json", out / "trials.csv")
    assert second["trials_this_run"] == 0  # the FAIL trial counts as finished: 3 of 3
    assert second["trials"] == 3 and second["trials_complete"] == 2
    third = v1_tune_stage(sim, _tune_section(4), out, out / "metrics.json", out / "trials.csv")
    assert third["trials"] == 4 and third["trials_this_run"] == 1
    rows = pd.read_csv(out / "trials.csv")
    pd.testing.assert_frame_equal(rows.iloc[:2], rows_before)  # earlier trials kept, not redone
    loaded = optuna.load_study(study_name=name, storage=f"sqlite:///{out / 'study.db'}")
    assert len(loaded.trials) == 4
    assert third["best_loss"] == pytest.approx(rows.loc[rows.state == "COMPLETE", "loss"].min())
    # changed settings: a separate study in the same file, starting from zero
    other = _tune_section(1)
    other.update(seed=9, min_population_rate=1000.0)  # no trial can be feasible
    fresh = v1_tune_stage(sim, other, out, out / "m2.json", out / "t2.csv")
    assert fresh["trials"] == 1 and fresh["study_name"] != third["study_name"]
    assert fresh["trials_feasible"] == 0 and fresh["best_feasible"] is False
    assert not pd.read_csv(out / "t2.csv")["feasible"].any()

    best = v1_best_stage(sim, out / "metrics.json", tmp_path / "best")
    bp = third["best_params"]
    assert best["meta"]["input_amplitude"] == pytest.approx(bp["amplitude"])
    assert best["meta"]["tau_learn"] == pytest.approx(bp["tau_learn"])
    fig_v1_tune_stage(
        {"dpi": 40}, out / "trials.csv", out / "metrics.json", str(tmp_path / "t.png")
    )
    assert (tmp_path / "t.png").stat().st_size > 1000


def test_figures_from_stage_outputs(sim_dir, tmp_path):
    out, _ = sim_dir
    pngs = {k: str(tmp_path / f"{k}.png") for k in FIGS}
    fig_v1_stage({"dpi": 40}, out, pngs)
    for path in pngs.values():
        with open(path, "rb") as fh:
            assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
