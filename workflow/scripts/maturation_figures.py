"""Thin adapter: snakemake.* -> rnnlab.plots.maturation.figures_stage."""

from rnnlab.pipeline.logs import setup_logging
from rnnlab.plots.maturation import figures_stage

setup_logging(snakemake.log[0])
figures_stage(
    snakemake.params.figures,
    dict(snakemake.input.items()),
    dict(snakemake.output.items()),
)
