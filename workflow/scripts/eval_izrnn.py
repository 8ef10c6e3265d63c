"""Thin adapter: snakemake.* -> rnnlab.analysis.izrnn_eval.izrnn_eval_stage."""

from rnnlab.analysis.izrnn_eval import izrnn_eval_stage
from rnnlab.pipeline.logs import setup_logging

setup_logging(snakemake.log[0])
izrnn_eval_stage(
    snakemake.params.evaluation,
    snakemake.params.taps,
    checkpoint_path=snakemake.input.checkpoint,
    metrics_path=snakemake.output.metrics,
    trials_csv_path=snakemake.output.trials,
    activity_npz_path=snakemake.output.activity,
    traces_npz_path=snakemake.output.traces,
    threads=snakemake.threads,
)
