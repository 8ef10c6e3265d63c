"""Thin adapter: snakemake.* -> rnnlab.analysis.condense_stage.train_stage."""

from pathlib import Path

from rnnlab.analysis.condense_stage import train_stage
from rnnlab.pipeline.logs import setup_logging

setup_logging(snakemake.log[0])
train_stage(
    snakemake.params.task,
    snakemake.params.model,
    snakemake.params.train,
    snakemake.params.evaluation,
    checkpoint_path=snakemake.output.checkpoint,
    curve_path=snakemake.output.curve,
    metrics_path=snakemake.output.metrics,
    resume_path=str(Path(snakemake.output.checkpoint).with_name("resume.pt")),
    network_seed=int(snakemake.wildcards.net),
)
