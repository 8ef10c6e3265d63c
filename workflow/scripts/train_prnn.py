"""Thin adapter: snakemake.* -> rnnlab.train.prnn.train_prnn_stage."""

from pathlib import Path

from rnnlab.pipeline.logs import setup_logging
from rnnlab.train.prnn import train_prnn_stage

setup_logging(snakemake.log[0])
train_prnn_stage(
    snakemake.params.task,
    {"model": snakemake.params.model, "train": snakemake.params.train},
    val_path=snakemake.input.val,
    checkpoint_path=snakemake.output.checkpoint,
    curve_path=snakemake.output.curve,
    metrics_path=snakemake.output.metrics,
    resume_path=str(Path(snakemake.output.checkpoint).with_name("resume.pt")),
    threads=snakemake.threads,
)
