"""The smoke pipeline through a real single-node SLURM on localhost (workflow/profiles/slurm).

tests/slurm/start_slurm.sh installs Debian's slurm-wlm and munge when missing (root only), starts
munged, slurmctld and slurmd as background daemons with a slurm.conf generated in a temp dir
(SLURM_CONF points at it; nothing goes to /etc/slurm), and tests/slurm/stop_slurm.sh stops them
by PID. The run must go through sbatch (SLURM job ids in Snakemake's log, in squeue's record of
finished jobs and in .snakemake/slurm_logs) and give the same metrics as the local smoke run.

Where the machine cannot run SLURM (not root, no packages) the test skips with the reason;
with RNNLAB_REQUIRE_SLURM=1 (CI) it fails instead.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from conftest import BIN, copy_project, smoke_params, tool_env

pytestmark = pytest.mark.slow

SLURM_DIR = Path(__file__).resolve().parent / "slurm"
REQUIRED = os.environ.get("RNNLAB_REQUIRE_SLURM", "") not in ("", "0")
RUN_LIMIT_S = 900  # the smoke DAG through SLURM on 2 cores takes a few minutes
# Test-only flags: a real cluster keeps the plugin's defaults (40-s first status check, sacct).
FAST_POLLING = [
    "--slurm-init-seconds-before-status-checks",
    "1",
    "--slurm-status-command",  # no slurmdbd here: sacct fails, squeue sees jobs for MinJobAge
    "squeue",
    "--slurm-keep-successful-logs",
    "--retries",
    "0",
    "--latency-wait",
    "5",
]
SUBMITTED = re.compile(r"Job (\d+) has been submitted with SLURM jobid (\d+)")


def _unavailable(reason: str):
    if REQUIRED:
        pytest.fail(f"RNNLAB_REQUIRE_SLURM is set but SLURM cannot run here: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def slurm_env(tmp_path_factory):
    """Environment whose SLURM_CONF points at a running one-node cluster; stopped afterwards."""
    state = tmp_path_factory.mktemp("slurm_state")
    try:
        proc = subprocess.run(
            ["bash", str(SLURM_DIR / "start_slurm.sh"), str(state)],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if proc.returncode == 2:
            _unavailable(proc.stderr.strip().splitlines()[-1])
        if proc.returncode != 0:
            pytest.fail(f"start_slurm.sh exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        env = tool_env()
        env["SLURM_CONF"] = str(state / "slurm.conf")
        yield env
    finally:
        subprocess.run(["bash", str(SLURM_DIR / "stop_slurm.sh"), str(state)], timeout=120)


def _gpu_rules(work: Path) -> list[str]:
    """Rules whose resources ask for a GPU (the node has none: they get gpu=0)."""
    rules = []
    for smk in sorted((work / "workflow" / "rules").glob("*.smk")):
        blocks = re.split(r"^rule (\w+):", smk.read_text(), flags=re.M)
        for name, body in zip(blocks[1::2], blocks[2::2], strict=True):
            if re.search(r"^\s+gpu\s*=", body, re.M):
                rules.append(name)
    return rules


def _without_seconds(value):
    """A metrics tree without wall-clock entries."""
    if isinstance(value, dict):
        return {
            k: _without_seconds(v)
            for k, v in value.items()
            if "seconds" not in k  # seconds, train_seconds, seconds_per_step, ...
        }
    if isinstance(value, list):
        return [_without_seconds(v) for v in value]
    return value


def _metrics(work: Path) -> dict[str, dict]:
    return {
        str(p.relative_to(work)): _without_seconds(json.loads(p.read_text()))
        for p in sorted((work / "results").rglob("metrics.json"))
    }


def test_smoke_pipeline_through_slurm(slurm_env, tmp_path, request) -> None:
    work = copy_project(tmp_path / "slurm", smoke_params())
    gpu_rules = _gpu_rules(work)
    assert "train_zrnn" in gpu_rules
    cmd = ["timeout", "-k", "30", str(RUN_LIMIT_S), str(BIN / "snakemake")]
    cmd += ["--profile", str(work / "workflow" / "profiles" / "slurm"), *FAST_POLLING]
    cmd += ["--set-resources", *(f"{rule}:gpu=0" for rule in gpu_rules)]
    proc = subprocess.run(
        cmd,
        cwd=work,
        env=slurm_env,
        capture_output=True,
        text=True,
        timeout=RUN_LIMIT_S + 60,
    )
    log = proc.stdout + proc.stderr
    (tmp_path / "snakemake_slurm.log").write_text(log)
    history = subprocess.run(
        ["squeue", "-h", "-t", "all", "-o", "%i|%T|%k"],
        env=slurm_env,
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    assert proc.returncode == 0, (
        f"snakemake through SLURM exited {proc.returncode}\n{log[-6000:]}\n--- squeue\n{history}"
    )

    # every job went through sbatch: job ids in Snakemake's log, in SLURM's record, log files
    submitted = {slurm_id for _, slurm_id in SUBMITTED.findall(log)}
    jobs = {}  # SLURM job id -> (state, rule)
    for line in history.splitlines():
        job_id, state, comment = line.strip().split("|")
        jobs[job_id] = (state, comment.removeprefix("rule_").split("_wildcards_")[0])
    planned = re.search(r"Job stats:\n(.*?)\ntotal", log, re.S).group(1)
    counts = {r: int(n) for r, n in re.findall(r"^(\w+)\s+(\d+)\s*$", planned, re.M)}
    counts.pop("all", None)  # the target rule runs on the submit host
    rules = set(counts)
    assert len(submitted) == sum(counts.values()) >= 10, (submitted, counts)
    assert submitted <= set(jobs), f"submitted {sorted(submitted)}, squeue knows {jobs}"
    assert {jobs[j][1] for j in submitted} == rules
    assert all(jobs[j][0] == "COMPLETED" for j in submitted), jobs
    for job_id in submitted:
        rule = jobs[job_id][1]
        # rules with wildcards log one level deeper: rule_<rule>/<wildcard values>/<id>.log
        rule_logs = work / ".snakemake" / "slurm_logs" / f"rule_{rule}"
        assert len(list(rule_logs.rglob(f"{job_id}.log"))) == 1, (rule, job_id)

    # same numbers as the local run (deterministic on CPU for the same seeds)
    local = request.getfixturevalue("smoke_run")
    expected, got = _metrics(local), _metrics(work)
    assert "results/rhythm/zrnn/metrics.json" in expected
    assert "results/rhythm/zrnn_eval/metrics.json" in expected
    assert got.keys() == expected.keys()
    for name in expected:
        assert got[name] == expected[name], name
    for figure in (local / "results" / "rhythm" / "figures").glob("*.png"):
        assert (work / figure.relative_to(local)).is_file()
