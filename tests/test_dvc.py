"""DVC on the generated dvc.yaml, in a real temporary git repo (smoke preset)."""

from __future__ import annotations

import json
import os
import re
import shutil

import pytest
import yaml
from conftest import ROOT, copy_project, run, smoke_params

from rnnlab.pipeline.dvcsync import generate, sync, wildcard_values

pytestmark = pytest.mark.slow
# stages that do not depend on the trained network
REDUCED_MODEL_STAGES = {"reduced_model", "fig_reduced_model"}
# the PRNN's own stages (the IZRNN stages depend on both nets)
PRNN_STAGES = {"prnn_data", "train_prnn", "eval_prnn", "fig_prnn"}


def _repro(repo, *args: str) -> set[str]:
    """Run (or with --dry, plan) `dvc repro` (of every stage in dvc.yaml unless targets are
    given); the stages it ran. DVC parses dvc.yaml once per target, so pass few."""
    out = run(["dvc", "repro", *args], cwd=repo, timeout=900).stdout
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


def _init_git_dvc(repo) -> None:
    """A fresh git + DVC repository holding the project copy as its first commit."""
    run(["git", "init", "-q"], cwd=repo)
    run(["git", "config", "user.email", "ci@rnnlab.invalid"], cwd=repo)
    run(["git", "config", "user.name", "rnnlab ci"], cwd=repo)
    run(["dvc", "init", "-q"], cwd=repo)
    _commit(repo, "project")


def _outputs(stages: dict, names: set[str]) -> list[str]:
    """Every file the named DVC stages write (outs, metrics and plots)."""
    return [
        out if isinstance(out, str) else next(iter(out))
        for name in sorted(names)
        for key in ("outs", "metrics", "plots")
        for out in stages[name].get(key, [])
    ]


def _keep_only(repo, names: set[str]) -> dict:
    """Trim the repository's generated dvc.yaml to the named stages, unchanged (the other
    studies' stages are independent of them, and DVC's YAML parsing dominates a small run)."""
    stages = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]
    kept = {name: stages[name] for name in stages if name in names}
    assert set(kept) == names
    (repo / "dvc.yaml").write_text(yaml.safe_dump({"stages": kept}, sort_keys=False))
    return kept


def _adopt_smoke_outputs(repo, smoke_run, stages: dict, names: set[str]) -> None:
    """Copy the named stages' outputs from the session's smoke run (same params) and record
    them in dvc.lock with `dvc commit`, as if DVC had run them: the DVC tests then spend their
    time on the reruns they check, not on recomputing the smoke study stage by stage."""
    outputs = _outputs(stages, names)
    for out in outputs:
        (repo / out).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(smoke_run / out, repo / out)
    in_file = set(yaml.safe_load((repo / "dvc.yaml").read_text())["stages"])
    targets = [] if names == in_file else sorted(names)  # none: every stage, one parse
    run(["dvc", "commit", "--force", "--quiet", *targets], cwd=repo)
    for out in outputs:  # committing rewrote them; Snakemake compares mtimes
        made = (smoke_run / out).stat()
        os.utime(repo / out, ns=(made.st_atime_ns, made.st_mtime_ns))
    status = run(["dvc", "status", *targets], cwd=repo).stdout
    assert "Data and pipelines are up to date" in status, status


def test_dvc_repro_granularity_and_metrics_diff(tmp_path, smoke_run) -> None:
    repo = copy_project(tmp_path / "repo", smoke_params())
    assert (repo / "params.yaml").read_text() == (smoke_run / "params.yaml").read_text()
    stages = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]
    everything = set(stages)
    # the rhythm study's stages (the smoke DAG and test_dvc_sync cover the other studies)
    rhythm = {name for name, stage in stages.items() if "-- results/rhythm/" in stage["cmd"]}
    assert {"rhythm_data", "train_zrnn", "eval_zrnn", "fig_zrnn_outputs"} <= rhythm < everything
    _keep_only(repo, rhythm)
    _init_git_dvc(repo)
    _adopt_smoke_outputs(repo, smoke_run, stages, rhythm)
    _commit(repo, "first run")

    # an evaluation-only param: evaluation and figures rerun (for real), nothing upstream
    _set_param(repo, ("rhythm", "zrnn_eval", "continuation", "drive_s"), 1.9)
    assert _repro(repo) == {"eval_zrnn", "fig_zrnn_outputs", "eval_izrnn_zrnn"}
    _commit(repo, "longer drive")
    diff = json.loads(run(["dvc", "metrics", "diff", "HEAD~1", "--json"], cwd=repo).stdout)
    changed = diff["results/rhythm/zrnn_eval/metrics.json"]
    assert "continuation.mean_amplitude" in changed
    assert changed["continuation.mean_amplitude"]["diff"] != 0
    assert "results/rhythm/zrnn/metrics.json" not in diff  # training untouched
    # after a DVC-driven run Snakemake agrees that nothing is left to do
    outputs = _outputs(stages, rhythm)
    assert "Nothing to be done" in run(["snakemake", "-n", *outputs], cwd=repo).stdout

    # a training param: training and everything downstream, nothing upstream. A dry run
    # with --force-downstream lists what DVC would run (downstream stages rerun for real
    # only once the retrained weights exist, which a dry run does not make).
    _set_param(repo, ("rhythm", "zrnn", "train", "lr"), 0.003)
    data_stages = {"rhythm_data", "izrnn_zrnn_data"}
    downstream_of_training = rhythm - data_stages - REDUCED_MODEL_STAGES - PRNN_STAGES
    assert {"izrnn_compose", "eval_izrnn", "train_izrnn_zrnn"} <= downstream_of_training
    assert _repro(repo, "--dry", "--force-downstream") == downstream_of_training
    params_diff = json.loads(run(["dvc", "params", "diff", "--json"], cwd=repo).stdout)
    assert "rhythm.zrnn.train.lr" in json.dumps(params_diff)


CONDENSE_PER_NETWORK = (
    "condense_train_csg",
    "condense_original",
    "condense_size_sweep",
    *(
        f"condense_reduce_{m}"
        for m in ("random", "pair_merge", "ls_prune", "svd", "iterative_merge")
    ),
)


def _with_seeds(tmp_path, seeds: list[int]):
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["condense"]["network_seeds"] = seeds
    return generate(copy_project(tmp_path / f"seeds{'-'.join(map(str, seeds))}", params))


def test_wildcard_rules_expand_into_one_stage_per_network(tmp_path) -> None:
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    seeds = yaml.safe_load((ROOT / "params.yaml").read_text())["condense"]["network_seeds"]
    for rule in CONDENSE_PER_NETWORK:
        assert rule not in stages
        names = {s for s in stages if s.startswith(f"{rule}_net")}
        assert names == {f"{rule}_net{n}" for n in seeds}
        for n in seeds:  # each stage rebuilds only its own network's files
            stage = stages[f"{rule}_net{n}"]
            outs = stage["cmd"].split(" -- ")[1].split()
            assert outs and all(o.startswith(f"results/condense/net{n}/") for o in outs)
            deps = [d for d in stage["deps"] if d.startswith("results/")]
            assert all(d.startswith(f"results/condense/net{n}/") for d in deps)
    assert stages["condense_train_csg_net0"]["params"] == [
        "condense.task",
        "condense.model",
        "condense.train",
        "condense.evaluation",
    ]
    agg = stages["condense_aggregate"]
    assert {f"results/condense/net{n}/svd/metrics.json" for n in seeds} <= set(agg["deps"])
    assert {"results/condense/svd/metrics.json": {"cache": False}} in agg["metrics"]

    # changing condense.network_seeds changes the stage set and nothing else
    base = _with_seeds(tmp_path, [0, 1])["stages"]
    other = _with_seeds(tmp_path, [0, 3])["stages"]
    assert {s for s in base if s.endswith("_net1")} == {f"{r}_net1" for r in CONDENSE_PER_NETWORK}
    assert set(base) - set(other) == {f"{r}_net1" for r in CONDENSE_PER_NETWORK}
    assert set(other) - set(base) == {f"{r}_net3" for r in CONDENSE_PER_NETWORK}
    for name in set(base) & set(other):
        if name in ("condense_aggregate", "condense_summary", "fig_condense"):
            assert base[name] != other[name]  # they read every network
        else:  # network 0's stages and every other study's stages are untouched
            assert base[name] == other[name], name


def test_wildcard_values_must_be_listed_literally() -> None:
    assert wildcard_values("r", "net", "0|1|12") == ["0", "1", "12"]
    with pytest.raises(ValueError, match="needs wildcard_constraints listing its values"):
        wildcard_values("r", "net", r"\d+")
    with pytest.raises(ValueError, match="needs wildcard_constraints"):
        wildcard_values("r", "net", None)
    with pytest.raises(ValueError, match="lists a value twice"):
        wildcard_values("r", "net", "0|0")


def test_dvc_reruns_only_the_new_networks_stages(tmp_path, smoke_run) -> None:
    """The condense study under DVC on one network, then a second network: DVC plans only
    that network's stages and the across-network stages; the existing network stays up to
    date. (Network 0's files come from the smoke run and the new network is planned with
    `dvc status` and only its training run, to keep the suite fast: every DVC stage starts
    Snakemake once. test_wildcard_rules_expand_into_one_stage_per_network shows that the
    other studies' stages do not change with the network list.)"""
    params = smoke_params()
    params["condense"]["network_seeds"] = [0]
    repo = copy_project(tmp_path / "repo", params)
    sync(repo)
    stages = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]
    condense = {s for s in stages if s.startswith(("condense_", "fig_condense"))}
    stages = _keep_only(repo, condense)
    _init_git_dvc(repo)
    assert len(condense) == len(CONDENSE_PER_NETWORK) + 3
    across = {"condense_aggregate", "condense_summary", "fig_condense"}
    _adopt_smoke_outputs(repo, smoke_run, stages, condense - across)
    assert _repro(repo) == across  # run by DVC: one network in the aggregate
    agg = json.loads((repo / "results/condense/ls_prune/metrics.json").read_text())
    assert agg["n_networks"] == 1 and set(agg["per_network"]) == {"0"}
    _commit(repo, "one network")

    _set_param(repo, ("condense", "network_seeds"), [0, 1])
    sync(repo)
    stages = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]
    condense_now = {s for s in stages if s.startswith(("condense_", "fig_condense"))}
    stages = _keep_only(repo, condense_now)
    new = {f"{r}_net1" for r in CONDENSE_PER_NETWORK}
    assert condense_now - condense == new
    # what DVC would rerun: every condense stage `dvc status` reports as not up to date
    status = run(["dvc", "status", "--json"], cwd=repo).stdout
    stale = json.loads(status)
    assert set(stale) == new | across, stale
    # a generated per-network stage runs under DVC and writes only its network's files
    assert _repro(repo, "condense_train_csg_net1") == {"condense_train_csg_net1"}
    for out in _outputs(stages, {"condense_train_csg_net1"}):
        assert out.startswith("results/condense/net1/") and (repo / out).is_file()
