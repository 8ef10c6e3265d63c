"""Lint and format checks that are part of the test suite."""

from __future__ import annotations

from conftest import ROOT, run


def test_snakemake_lint_is_clean() -> None:
    proc = run(["snakemake", "--lint"], cwd=ROOT, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Congratulations" in proc.stdout + proc.stderr


def test_snakefmt_check_passes() -> None:
    proc = run(["snakefmt", "--check", "Snakefile", "workflow"], cwd=ROOT, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ruff_is_clean() -> None:
    proc = run(
        ["ruff", "check", "src", "tests", "benchmarks", "workflow/scripts"], cwd=ROOT, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
