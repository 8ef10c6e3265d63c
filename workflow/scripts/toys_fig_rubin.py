"""Thin adapter: snakemake.* -> rnnlab.plots.toys.fig_rubin_stage."""

from rnnlab.pipeline.logs import setup_logging
from rnnlab.plots.toys import fig_rubin_stage

setup_logging(snakemake.log[0])
fig_rubin_stage(
    snakemake.params.figures,
    metrics_path=snakemake.input.metrics,
    traces_npz_path=snakemake.input.traces,
    png_path=snakemake.output.figure,
)
