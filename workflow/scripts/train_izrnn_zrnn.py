"""Thin adapter: snakemake.* -> rnnlab.train.izrnn.train_izrnn_zrnn_stage."""

from rnnlab.pipeline.logs import setup_logging
from rnnlab.train.izrnn import train_izrnn_zrnn_stage

setup_logging(snakemake.log[0])
train_izrnn_zrnn_stage(
    snakemake.params.task,
    snakemake.params.zrnn,
    snakemake.params.retrain,
    val_path=snakemake.input.val,
    checkpoint_path=snakemake.output.checkpoint,
    curve_path=snakemake.output.curve,
    metrics_path=snakemake.output.metrics,
    threads=snakemake.threads,
)
