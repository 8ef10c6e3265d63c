"""Thin adapter: snakemake.* -> rnnlab.plots.prnn.fig_prnn_stage."""

from rnnlab.pipeline.logs import setup_logging
from rnnlab.plots.prnn import fig_prnn_stage

setup_logging(snakemake.log[0])
fig_prnn_stage(
    snakemake.params.figures,
    curve_csv_path=snakemake.input.curve,
    metrics_path=snakemake.input.metrics,
    trials_csv_path=snakemake.input.trials,
    figure_data_npz_path=snakemake.input.figure_data,
    loss_png=snakemake.output.loss,
    scatter_png=snakemake.output.scatter,
    traces_png=snakemake.output.traces,
    raster_png=snakemake.output.raster,
    pca3d_png=snakemake.output.pca3d,
    pca2d_png=snakemake.output.pca2d,
    trajectory_png=snakemake.output.trajectory,
)
