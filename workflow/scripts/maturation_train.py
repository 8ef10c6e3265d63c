"""Thin adapter: snakemake.* -> rnnlab.train.maturation.train_maturation."""

from rnnlab.pipeline.logs import setup_logging
from rnnlab.train.maturation import train_maturation

setup_logging(snakemake.log[0])
train_maturation(
    snakemake.params.task,
    snakemake.params.model,
    snakemake.params.train,
    checkpoints_dir=snakemake.output.checkpoints,
    log_csv_path=snakemake.output.log_csv,
    metrics_path=snakemake.output.metrics,
    threads=snakemake.threads,
)
