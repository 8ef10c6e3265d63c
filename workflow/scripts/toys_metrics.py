"""Thin adapter: snakemake.* -> rnnlab.circuits.toys.stage.merge_metrics_stage."""

from rnnlab.circuits.toys.stage import merge_metrics_stage
from rnnlab.pipeline.logs import setup_logging

setup_logging(snakemake.log[0])
merge_metrics_stage(
    {name: snakemake.input[name] for name in ("lif", "two_unit", "rubin", "ring")},
    metrics_path=snakemake.output.metrics,
)
