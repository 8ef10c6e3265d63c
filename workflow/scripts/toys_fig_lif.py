"""Thin adapter: snakemake.* -> rnnlab.plots.toys.fig_lif_stage."""

from rnnlab.pipeline.logs import setup_logging
from rnnlab.plots.toys import fig_lif_stage

setup_logging(snakemake.log[0])
fig_lif_stage(
    snakemake.params.figures,
    metrics_path=snakemake.input.metrics,
    fi_csv_path=snakemake.input.fi,
    traces_npz_path=snakemake.input.traces,
    png_path=snakemake.output.figure,
)
