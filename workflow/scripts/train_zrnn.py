"""Thin adapter: snakemake.* -> rnnlab.train.zrnn.train_zrnn_stage."""

from pathlib import Path

from rnnlab.pipeline.logs import setup_logging
from rnnlab.train.zrnn import train_zrnn_stage

setup_logging(snakemake.log[0])
train_zrnn_stage(
    snakemake.params.task,
    snakemake.params.zrnn,
    val_path=snakemake.input.val,
    checkpoint_path=snakemake.output.checkpoint,
    curve_path=snakemake.output.curve,
    metrics_path=snakemake.output.metrics,
    resume_path=str(Path(snakemake.output.checkpoint).with_name("resume.pt")),
    threads=snakemake.threads,
)
