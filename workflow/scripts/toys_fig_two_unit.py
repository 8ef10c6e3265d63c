"""Thin adapter: snakemake.* -> rnnlab.plots.toys.fig_two_unit_stage."""

from rnnlab.pipeline.logs import setup_logging
from rnnlab.plots.toys import fig_two_unit_stage

setup_logging(snakemake.log[0])
fig_two_unit_stage(
    snakemake.params.figures,
    metrics_path=snakemake.input.metrics,
    arrays_npz_path=snakemake.input.arrays,
    png_path=snakemake.output.figure,
    gif_path=snakemake.output.gif,
)
