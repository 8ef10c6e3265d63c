"""Thin adapter: snakemake.* -> rnnlab.analysis.maturation_errors.errors_stage."""

from pathlib import Path

from rnnlab.analysis.maturation_errors import errors_stage
from rnnlab.pipeline.logs import setup_logging

setup_logging(snakemake.log[0])
errors_stage(
    snakemake.params.errors,
    {Path(p).stem: p for p in snakemake.input.activity},
    hist_csv=snakemake.output.hist,
    distractor_csv=snakemake.output.distractor,
    metrics_path=snakemake.output.metrics,
)
