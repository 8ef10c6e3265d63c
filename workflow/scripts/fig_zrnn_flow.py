"""Thin adapter: snakemake.* -> rnnlab.plots.rhythm_flow.fig_zrnn_flow_stage."""

from rnnlab.pipeline.logs import setup_logging
from rnnlab.plots.rhythm_flow import fig_zrnn_flow_stage

setup_logging(snakemake.log[0])
fig_zrnn_flow_stage(
    snakemake.params.figures,
    metrics_path=snakemake.input.metrics,
    regimes_csv_path=snakemake.input.regimes,
    flow_npz_path=snakemake.input.flow,
    png_path=snakemake.output.figure,
)
