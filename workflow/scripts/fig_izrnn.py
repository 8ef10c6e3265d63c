"""Thin adapter: snakemake.* -> rnnlab.plots.izrnn.fig_izrnn_stage."""

from rnnlab.pipeline.logs import setup_logging
from rnnlab.plots.izrnn import fig_izrnn_stage

setup_logging(snakemake.log[0])
fig_izrnn_stage(
    snakemake.params.figures,
    trials_csv_path=snakemake.input.trials,
    traces_npz_path=snakemake.input.traces,
    finetune_curve_path=snakemake.input.curve,
    compose_metrics_path=snakemake.input.compose,
    cue_interval_png=snakemake.output.cue_interval,
    error_split_png=snakemake.output.error_split,
    traces_png=snakemake.output.traces,
    finetune_png=snakemake.output.finetune,
)
