"""Thin adapter: snakemake.* -> rnnlab.analysis.condense_stage.summary_stage."""

from pathlib import Path

from rnnlab.analysis.condense_stage import summary_stage
from rnnlab.pipeline.logs import setup_logging

setup_logging(snakemake.log[0])
summary_stage(
    snakemake.params.evaluation,
    checkpoint_path=snakemake.input.checkpoint,
    sweep_models_path=snakemake.input.sweep_models,
    method_metrics_paths={Path(p).parent.name: p for p in snakemake.input.metrics},
    metrics_path=snakemake.output.metrics,
    table_path=snakemake.output.table,
)
