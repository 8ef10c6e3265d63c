"""Thin adapter: snakemake.* -> rnnlab.analysis.v1_selectivity.v1_simulate_stage."""

from pathlib import Path

from rnnlab.analysis.v1_selectivity import v1_simulate_stage
from rnnlab.pipeline.logs import setup_logging

setup_logging(snakemake.log[0])
v1_simulate_stage(snakemake.params.simulate, out_dir=Path(snakemake.output[0]).parent)
