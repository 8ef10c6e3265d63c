"""Thin adapter: snakemake.* -> rnnlab.analysis.condense_summary.summary_stage."""

from pathlib import Path

from rnnlab.analysis.condense_summary import summary_stage
from rnnlab.pipeline.logs import setup_logging


def by_network(paths: list[str], depth: int) -> dict[str, str]:
    """Network seed -> path, from results/condense/net<n>/... (``depth`` levels up)."""
    return {Path(p).parents[depth].name.removeprefix("net"): p for p in paths}


setup_logging(snakemake.log[0])
summary_stage(
    snakemake.params.evaluation,
    checkpoint_paths=by_network(snakemake.input.checkpoints, 1),
    original_metrics_paths=by_network(snakemake.input.originals, 1),
    sweep_metrics_paths=by_network(snakemake.input.sweep_metrics, 1),
    sweep_models_paths=by_network(snakemake.input.sweep_models, 1),
    method_metrics_paths={Path(p).parent.name: p for p in snakemake.input.metrics},
    metrics_path=snakemake.output.metrics,
    table_path=snakemake.output.table,
    networks_table_path=snakemake.output.networks,
)
