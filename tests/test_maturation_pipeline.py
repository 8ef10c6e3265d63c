"""Maturation study end to end on a tiny run: stages -> activity -> analyses -> figures."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import ROOT, smoke_params

from rnnlab.analysis.maturation_activity import activity_stage
from rnnlab.analysis.maturation_decoding import decoding_stage
from rnnlab.analysis.maturation_dpca import dpca_stage
from rnnlab.analysis.maturation_errors import errors_stage
from rnnlab.analysis.maturation_stages import stages_stage
from rnnlab.analysis.maturation_units import analysis_stage, single_unit_stage
from rnnlab.io import read_json, write_csv
from rnnlab.plots.maturation import figures_stage
from rnnlab.tasks.maturation import TASKS
from rnnlab.train.maturation import train_maturation


def study_params() -> dict:
    import yaml

    from rnnlab.params import deep_merge

    p = smoke_params()
    if "maturation" in p:
        return p["maturation"]
    d = ROOT / "drafts" / "maturation"
    base = yaml.safe_load((d / "params.yaml").read_text())
    return deep_merge(base, yaml.safe_load((d / "smoke.yaml").read_text()) or {})


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> dict:
    p = study_params()
    d = tmp_path_factory.mktemp("mat")
    tm = train_maturation(
        p["task"],
        dict(p["model"], n_hidden=8),
        dict(p["train"], batch_size=32, eval_every_trials=32, max_trials=128),
        checkpoints_dir=d / "train" / "checkpoints",
        log_csv_path=d / "train" / "log.csv",
        metrics_path=d / "train" / "metrics.json",
        threads=1,
    )
    # stages need every stage: relabel the perf columns of the tiny run to a ramp
    import csv

    with open(d / "train" / "log.csv") as fh:
        rows = list(csv.DictReader(fh))
    for i, r in enumerate(rows):
        for t in TASKS:
            r[f"perf_{t}"] = [0.2, 0.5, 0.9, 0.95, 1.0][i % 5]
    write_csv(d / "log_ramp.csv", rows, list(rows[0]))
    st = stages_stage(p["stages"], str(d / "log_ramp.csv"), str(d / "stages.json"))
    act = {t: str(d / f"{t}.npz") for t in p["activity"]["tasks"]}
    ckpts = str(d / "train" / "checkpoints")
    activity_stage(p["activity"], p["task"], ckpts, str(d / "stages.json"), act)
    return {"p": p, "d": d, "train": tm, "stages": st, "act": act}


def test_train_contract_and_stages(run) -> None:
    m = read_json(run["d"] / "train" / "metrics.json")
    assert {"perf_min", "trials"} <= set(m["final"]) and m["train"]["seconds"] > 0
    odr = run["stages"]["tasks"]["odr"]
    assert odr["early"]["trials"] == [0]
    assert odr["mid"]["trials"] == [32] and odr["mature"]["trials"] == [64, 96, 128]
    assert odr["mature"]["representative"] == 96  # perf closest to 0.95


def test_activity_arrays(run) -> None:
    a = np.load(run["act"]["odrd"])
    n = run["p"]["activity"]["n_repeats"]
    assert a["epoch_means"].shape[1:] == (8 * n, 6, 8)
    assert a["psth"].shape[:2] == (5, 8)
    assert a["distractor_correct"].shape == (5, 8, 8)
    assert a["rep_rates"].shape[0] == 0  # odrd is not a detail task
    o = np.load(run["act"]["odr"])
    assert o["rep_rates"].shape[0] == 3 and list(o["rep_trials"]) == [0, 32, 96]


def test_analyses_contract(run) -> None:
    p, d, act = run["p"], run["d"], run["act"]
    m = analysis_stage(
        p["analysis"],
        act,
        metrics_path=str(d / "a.json"),
        counts_csv=str(d / "counts.csv"),
        psth_npz=str(d / "psth.npz"),
        psth_csv=str(d / "psth.csv"),
        tuning_csv=str(d / "tuning.csv"),
        delay_csv=str(d / "delay.csv"),
        growth_csv=str(d / "growth.csv"),
    )
    saved = read_json(d / "a.json")
    for s in ("early", "mid", "mature"):
        assert s in saved["delay_activity"]
        assert s in saved["tuning"]["height"] and s in saved["tuning"]["width"]
    assert "anova_p" in saved["delay_activity"]
    assert m["delay_activity"]["n_units"]["mature"] >= 0
    dm = decoding_stage(p["decoding"], act["odr"], npz_path=str(d / "dec.npz"),
                        metrics_path=str(d / "dec.json"))  # fmt: skip
    assert set(dm["stages"]) == {"early", "mid", "mature"}
    acc = np.load(d / "dec.npz")["mature_accuracy"]
    assert acc.shape[0] == acc.shape[1] and np.all((acc >= 0) & (acc <= 1))
    dp = dpca_stage(p["dpca"], act["odr"], npz_path=str(d / "dpca.npz"),
                    metrics_path=str(d / "dpca.json"))  # fmt: skip
    assert dp["stage"] == "mature" and len(dp["explained_variance"]["t"]) == 3
    em = errors_stage(
        p["errors"],
        {t: act[t] for t in p["errors"]["tasks"]},
        hist_csv=str(d / "hist.csv"),
        distractor_csv=str(d / "dist.csv"),
        metrics_path=str(d / "err.json"),
    )
    assert len(em["distractor"]["mature"]) == 5
    single_unit_stage(p["unit"], p["analysis"], act["odr"], npz_path=str(d / "unit.npz"))
    figs = {k: str(d / f"{k}.png") for k in ("performance", "tuning_delay", "unit", "errors")}
    figures_stage(
        {"dpi": 30},
        {
            "log": str(d / "train" / "log.csv"),
            "stages": str(d / "stages.json"),
            "tuning": str(d / "tuning.csv"),
            "delay": str(d / "delay.csv"),
            "growth": str(d / "growth.csv"),
            "metrics": str(d / "a.json"),
            "unit": str(d / "unit.npz"),
            "hist": str(d / "hist.csv"),
            "distractor": str(d / "dist.csv"),
        },
        figs,
    )
    assert all((d / f"{k}.png").stat().st_size > 1000 for k in figs)
