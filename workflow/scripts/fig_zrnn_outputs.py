"""Thin adapter: snakemake.* -> rnnlab.plots.rhythm.fig_zrnn_stage."""

from rnnlab.pipeline.logs import setup_logging
from rnnlab.plots.rhythm import fig_zrnn_stage

setup_logging(snakemake.log[0])
fig_zrnn_stage(
    snakemake.params.figures,
    traces_path=snakemake.input.traces,
    curve_path=snakemake.input.curve,
    table_path=snakemake.input.table,
    generalisation_path=snakemake.input.generalisation,
    sync_path=snakemake.input.sync,
    outputs_png=snakemake.output.outputs,
    loss_png=snakemake.output.loss,
    continuation_png=snakemake.output.continuation,
    cue_interval_png=snakemake.output.cue_interval,
)
