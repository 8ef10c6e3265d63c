"""Thin adapter: snakemake.* -> rnnlab.plots.reduced_rhythm.fig_reduced_model_stage."""

from rnnlab.pipeline.logs import setup_logging
from rnnlab.plots.reduced_rhythm import fig_reduced_model_stage

setup_logging(snakemake.log[0])
fig_reduced_model_stage(
    snakemake.params.figures,
    metrics_path=snakemake.input.metrics,
    curve_csv_path=snakemake.input.curve,
    arrays_npz_path=snakemake.input.arrays,
    png_path=snakemake.output.figure,
)
