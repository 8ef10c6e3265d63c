"""Thin adapter: snakemake.* -> rnnlab.train.izrnn.izrnn_compose_stage."""

from rnnlab.pipeline.logs import setup_logging
from rnnlab.train.izrnn import izrnn_compose_stage

setup_logging(snakemake.log[0])
izrnn_compose_stage(
    snakemake.params.wiring,
    snakemake.params.finetune,
    prnn_checkpoint=snakemake.input.prnn,
    zrnn_checkpoint=snakemake.input.zrnn,
    checkpoint_path=snakemake.output.checkpoint,
    curve_path=snakemake.output.curve,
    metrics_path=snakemake.output.metrics,
    threads=snakemake.threads,
)
