"""Thin adapter: snakemake.* -> rnnlab.analysis.rhythm_eval.eval_zrnn_stage."""

from rnnlab.analysis.rhythm_eval import eval_zrnn_stage
from rnnlab.pipeline.logs import setup_logging

setup_logging(snakemake.log[0])
eval_zrnn_stage(
    snakemake.params.evaluation,
    checkpoint_path=snakemake.input.checkpoint,
    test_path=snakemake.input.test,
    metrics_path=snakemake.output.metrics,
    table_path=snakemake.output.table,
    generalisation_path=snakemake.output.generalisation,
    sync_path=snakemake.output.sync,
    traces_path=snakemake.output.traces,
    threads=snakemake.threads,
)
