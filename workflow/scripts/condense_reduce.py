"""Thin adapter: snakemake.* -> rnnlab.analysis.condense_stage.reduce_stage."""

from pathlib import Path

from rnnlab.analysis.condense_stage import reduce_stage
from rnnlab.pipeline.logs import setup_logging

setup_logging(snakemake.log[0])
reduce_stage(
    Path(snakemake.output.metrics).parent.name,  # results/condense/net<n>/<method>/metrics.json
    snakemake.params.method,
    snakemake.params.finetune,
    snakemake.params.evaluation,
    snakemake.params.battery,
    snakemake.params.criterion,
    checkpoint_path=snakemake.input.checkpoint,
    original_metrics_path=snakemake.input.original,
    metrics_path=snakemake.output.metrics,
    curve_path=snakemake.output.curve,
    arrays_path=snakemake.output.arrays,
    network_seed=int(snakemake.wildcards.net),
)
