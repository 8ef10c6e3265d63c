"""Thin adapter: snakemake.* -> rnnlab.analysis.condense_stage.original_stage."""

from rnnlab.analysis.condense_stage import original_stage
from rnnlab.pipeline.logs import setup_logging

setup_logging(snakemake.log[0])
original_stage(
    snakemake.params.evaluation,
    snakemake.params.battery,
    checkpoint_path=snakemake.input.checkpoint,
    metrics_path=snakemake.output.metrics,
    arrays_path=snakemake.output.arrays,
    network_seed=int(snakemake.wildcards.net),
)
