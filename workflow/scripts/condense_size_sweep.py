"""Thin adapter: snakemake.* -> rnnlab.analysis.condense_stage.size_sweep_stage."""

from rnnlab.analysis.condense_stage import size_sweep_stage
from rnnlab.pipeline.logs import setup_logging

setup_logging(snakemake.log[0])
size_sweep_stage(
    snakemake.params.task,
    snakemake.params.model,
    snakemake.params.train,
    snakemake.params.size_sweep,
    snakemake.params.evaluation,
    snakemake.params.battery,
    metrics_path=snakemake.output.metrics,
    table_path=snakemake.output.table,
    arrays_path=snakemake.output.arrays,
    models_path=snakemake.output.models,
    network_seed=int(snakemake.wildcards.net),
)
