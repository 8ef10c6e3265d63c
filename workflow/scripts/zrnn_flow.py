"""Thin adapter: snakemake.* -> rnnlab.analysis.rhythm_flow.zrnn_flow_stage."""

from rnnlab.analysis.rhythm_flow import zrnn_flow_stage
from rnnlab.pipeline.logs import setup_logging

setup_logging(snakemake.log[0])
zrnn_flow_stage(
    snakemake.params.flow,
    checkpoint_path=snakemake.input.checkpoint,
    metrics_path=snakemake.output.metrics,
    regimes_csv_path=snakemake.output.regimes,
    flow_npz_path=snakemake.output.flow,
    threads=snakemake.threads,
)
