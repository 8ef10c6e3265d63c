"""Thin adapter: snakemake.* -> rnnlab.plots.rhythm_dynamics.fig_zrnn_dynamics_stage."""

from rnnlab.pipeline.logs import setup_logging
from rnnlab.plots.rhythm_dynamics import fig_zrnn_dynamics_stage

setup_logging(snakemake.log[0])
fig_zrnn_dynamics_stage(
    snakemake.params.figures,
    figure_data_npz_path=snakemake.input.figure_data,
    units_csv_path=snakemake.input.units,
    cycles_csv_path=snakemake.input.cycles,
    raster_png=snakemake.output.raster,
    pca_png=snakemake.output.pca,
    lengths_png=snakemake.output.lengths,
)
