"""Thin adapter: snakemake.* -> rnnlab.analysis.maturation_stages.stages_stage."""

from rnnlab.analysis.maturation_stages import stages_stage
from rnnlab.pipeline.logs import setup_logging

setup_logging(snakemake.log[0])
stages_stage(snakemake.params.stages, snakemake.input.log_csv, snakemake.output.stages)
