"""Thin adapter: snakemake.* -> rnnlab.analysis.v1_tune.v1_best_stage."""

from pathlib import Path

from rnnlab.analysis.v1_tune import v1_best_stage
from rnnlab.pipeline.logs import setup_logging

setup_logging(snakemake.log[0])
v1_best_stage(
    snakemake.params.simulate,
    tune_metrics_path=snakemake.input.tune,
    out_dir=Path(snakemake.output[0]).parent,
)
