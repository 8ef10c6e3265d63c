"""Thin adapter: snakemake.* -> rnnlab.analysis.v1_tune.v1_tune_stage (resumes study.db)."""

from pathlib import Path

from rnnlab.analysis.v1_tune import v1_tune_stage
from rnnlab.pipeline.logs import setup_logging

setup_logging(snakemake.log[0])
v1_tune_stage(
    snakemake.params.simulate,
    snakemake.params.tune,
    out_dir=Path(snakemake.output.metrics).parent,
    metrics_path=snakemake.output.metrics,
    trials_csv_path=snakemake.output.trials,
)
