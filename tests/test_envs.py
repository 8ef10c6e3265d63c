"""envs/ (for cluster users, --sdm conda) pins exactly what pyproject.toml pins."""

from __future__ import annotations

import tomllib

import yaml
from conftest import ROOT


def test_conda_env_matches_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((ROOT / "envs" / "rnnlab.yaml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    pins = sorted(p for p in pip_section if not p.startswith("-e"))
    assert pins == sorted(project["dependencies"])
    assert "torch==2.13.0" in pins
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python"))
    assert python.replace(" ", "") == "python=3.11"


def test_every_rule_names_the_env() -> None:
    rules = (ROOT / "workflow" / "rules" / "rhythm.smk").read_text()
    assert rules.count("rule ") == rules.count('conda:\n        "../../envs/rnnlab.yaml"')
