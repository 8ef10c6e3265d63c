"""Thin adapter: snakemake.* -> rnnlab.plots.toys.fig_ring_stage."""

from rnnlab.pipeline.logs import setup_logging
from rnnlab.plots.toys import fig_ring_stage

setup_logging(snakemake.log[0])
fig_ring_stage(
    snakemake.params.figures,
    metrics_path=snakemake.input.metrics,
    bumps_csv_path=snakemake.input.bumps,
    arrays_npz_path=snakemake.input.arrays,
    png_path=snakemake.output.figure,
    gif_path=snakemake.output.gif,
)
