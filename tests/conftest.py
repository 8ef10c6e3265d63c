"""Shared fixtures: project root, a smoke-preset copy of the workflow run once per session."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

os.environ.setdefault("DVC_NO_ANALYTICS", "1")
ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SMOKE = ROOT / "workflow" / "presets" / "smoke.yaml"
COPY_ITEMS = ["Snakefile", "params.yaml", "dvc.yaml", "workflow", "src", "envs", "pyproject.toml"]


def tool_env() -> dict[str, str]:
    """Environment for subprocesses: venv tools first on PATH, no DVC analytics."""
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["DVC_NO_ANALYTICS"] = "1"
    return env


def run(cmd: list[str], cwd: Path, check: bool = True, timeout: int = 600):
    """Run a tool from the venv; on failure show its output."""
    proc = subprocess.run(
        cmd, cwd=cwd, env=tool_env(), capture_output=True, text=True, timeout=timeout
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} exited {proc.returncode}\n--- stdout\n{proc.stdout[-4000:]}"
            f"\n--- stderr\n{proc.stderr[-4000:]}"
        )
    return proc


def smoke_params() -> dict:
    """params.yaml with the smoke preset merged in (what the smoke tests run)."""
    from rnnlab.params import load_params

    return load_params(ROOT / "params.yaml", SMOKE)


def copy_project(dest: Path, params: dict | None = None) -> Path:
    """Copy the workflow into ``dest``; optionally replace params.yaml."""
    dest.mkdir(parents=True, exist_ok=True)
    for item in COPY_ITEMS:
        src = ROOT / item
        if src.is_dir():
            shutil.copytree(src, dest / item, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dest / item)
    if params is not None:
        (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return dest


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory) -> Path:
    """The full DAG on the smoke preset, run once in a scratch copy of the project."""
    work = copy_project(tmp_path_factory.mktemp("smoke"), smoke_params())
    run(["snakemake", "--cores", "2"], cwd=work, timeout=1800)
    return work
