# Two commands for a fresh machine: `make run` (whole pipeline, default params) and `make test`.
SHELL := /bin/bash
VENV := .venv
PYTHON ?= python3
export DVC_NO_ANALYTICS := 1
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: run test test-slurm smoke lint format dvc-sync venv clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet -e '.[dev,test]'
	touch $@

venv: $(VENV)/.installed

run: venv
	snakemake --cores all --workflow-profile workflow/profiles/default

smoke: venv
	snakemake --cores all --configfile workflow/presets/smoke.yaml

test: venv
	pytest --durations=15 --ignore=tests/test_slurm.py

# The smoke pipeline through a real one-node SLURM on localhost (root; installs
# slurmctld slurmd slurm-client munge if missing; skips with the reason otherwise). ~2-5 min.
test-slurm: venv
	pytest -rs tests/test_slurm.py

lint: venv
	ruff check src tests benchmarks workflow/scripts
	ruff format --check src tests benchmarks
	snakefmt --check Snakefile workflow
	snakemake --lint

format: venv
	ruff format src tests benchmarks
	ruff check --fix src tests benchmarks
	snakefmt Snakefile workflow

dvc-sync: venv
	rnnlab dvc-sync

clean:
	rm -rf .snakemake logs
