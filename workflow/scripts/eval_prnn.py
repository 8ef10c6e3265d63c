"""Thin adapter: snakemake.* -> rnnlab.analysis.prnn_eval.eval_prnn_stage."""

from rnnlab.analysis.prnn_eval import eval_prnn_stage
from rnnlab.pipeline.logs import setup_logging

setup_logging(snakemake.log[0])
eval_prnn_stage(
    snakemake.params.evaluation,
    checkpoint_path=snakemake.input.checkpoint,
    test_path=snakemake.input.test,
    metrics_path=snakemake.output.metrics,
    trials_csv_path=snakemake.output.trials,
    figure_data_npz_path=snakemake.output.figure_data,
    threads=snakemake.threads,
)
