"""Thin adapter: snakemake.* -> rnnlab.analysis.maturation_activity.activity_stage."""

from pathlib import Path

from rnnlab.analysis.maturation_activity import activity_stage
from rnnlab.pipeline.logs import setup_logging

setup_logging(snakemake.log[0])
activity_stage(
    snakemake.params.activity,
    snakemake.params.task,
    snakemake.input.checkpoints,
    snakemake.input.stages,
    {Path(p).stem: p for p in snakemake.output.activity},
    threads=snakemake.threads,
)
