"""Thin adapter: snakemake.* -> rnnlab.analysis.izrnn_eval.izrnn_flow_stage."""

from rnnlab.analysis.izrnn_eval import izrnn_flow_stage
from rnnlab.pipeline.logs import setup_logging

setup_logging(snakemake.log[0])
izrnn_flow_stage(
    snakemake.params.flow,
    snakemake.params.evaluation,
    checkpoint_path=snakemake.input.checkpoint,
    trials_csv_path=snakemake.input.trials,
    metrics_path=snakemake.output.metrics,
    regimes_csv_path=snakemake.output.regimes,
    flow_npz_path=snakemake.output.flow,
    threads=snakemake.threads,
)
