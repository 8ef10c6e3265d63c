"""DVC on the generated dvc.yaml, in a real temporary git repo (smoke preset)."""

from __future__ import annotations

import json
import re

import pytest
import yaml
from conftest import copy_project, run, smoke_params

pytestmark = pytest.mark.slow
# stages that do not depend on the trained network
REDUCED_MODEL_STAGES = {"reduced_model", "fig_reduced_model"}
# the PRNN's own stages (the IZRNN stages depend on both nets)
PRNN_STAGES = {"prnn_data", "train_prnn", "eval_prnn", "fig_prnn"}


def _repro(repo, targets: set[str]) -> set[str]:
    out = run(["dvc", "repro", *sorted(targets)], cwd=repo, timeout=900).stdout
    return set(re.findall(r"Running stage '([\w@-]+)'", out))


def _set_param(repo, path: tuple[str, ...], value) -> None:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    node = params
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def _commit(repo, message: str) -> None:
    run(["git", "add", "-A"], cwd=repo)
    run(["git", "commit", "-qm", message], cwd=repo)


def test_dvc_repro_granularity_and_metrics_diff(tmp_path) -> None:
    repo = copy_project(tmp_path / "repo", smoke_params())
    run(["git", "init", "-q"], cwd=repo)
    run(["git", "config", "user.email", "ci@rnnlab.invalid"], cwd=repo)
    run(["git", "config", "user.name", "rnnlab ci"], cwd=repo)
    run(["dvc", "init", "-q"], cwd=repo)
    _commit(repo, "project")

    stages = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]
    everything = set(stages)
    # the rhythm study (the other studies' stages are independent of it; the smoke DAG and
    # test_dvc_sync cover them, and running all of them here would double the test's time)
    rhythm = {name for name, stage in stages.items() if "-- results/rhythm/" in stage["cmd"]}
    assert {"rhythm_data", "train_zrnn", "eval_zrnn", "fig_zrnn_outputs"} <= rhythm < everything
    assert _repro(repo, rhythm) == rhythm
    _commit(repo, "first run")
    status = run(["dvc", "status", *sorted(rhythm)], cwd=repo).stdout
    assert "Data and pipelines are up to date" in status

    # an evaluation-only param: evaluation and figures rerun, nothing upstream
    _set_param(repo, ("rhythm", "zrnn_eval", "continuation", "drive_s"), 1.9)
    assert _repro(repo, rhythm) == {"eval_zrnn", "fig_zrnn_outputs", "eval_izrnn_zrnn"}
    _commit(repo, "longer drive")
    diff = json.loads(run(["dvc", "metrics", "diff", "HEAD~1", "--json"], cwd=repo).stdout)
    changed = diff["results/rhythm/zrnn_eval/metrics.json"]
    assert "continuation.mean_amplitude" in changed
    assert changed["continuation.mean_amplitude"]["diff"] != 0
    assert "results/rhythm/zrnn/metrics.json" not in diff  # training untouched

    # a training param: training and everything downstream, nothing upstream
    _set_param(repo, ("rhythm", "zrnn", "train", "lr"), 0.003)
    data_stages = {"rhythm_data", "izrnn_zrnn_data"}
    downstream_of_training = rhythm - data_stages - REDUCED_MODEL_STAGES - PRNN_STAGES
    assert {"izrnn_compose", "eval_izrnn", "train_izrnn_zrnn"} <= downstream_of_training
    assert _repro(repo, rhythm) == downstream_of_training
    params_diff = json.loads(run(["dvc", "params", "diff", "--json"], cwd=repo).stdout)
    assert "rhythm.zrnn.train.lr" in json.dumps(params_diff)

    # and after a DVC-driven run Snakemake agrees that nothing is left to do
    outputs = [
        out if isinstance(out, str) else next(iter(out))
        for name in rhythm
        for key in ("outs", "metrics", "plots")
        for out in stages[name].get(key, [])
    ]
    assert "Nothing to be done" in run(["snakemake", "-n", *outputs], cwd=repo).stdout
