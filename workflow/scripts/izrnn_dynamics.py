"""Thin adapter: snakemake.* -> rnnlab.analysis.rhythm_dynamics.zrnn_dynamics_from_activity."""

from rnnlab.analysis.rhythm_dynamics import zrnn_dynamics_from_activity
from rnnlab.pipeline.logs import setup_logging

setup_logging(snakemake.log[0])
zrnn_dynamics_from_activity(
    snakemake.params.dynamics,
    snakemake.params.taps,
    activity_npz_path=snakemake.input.activity,
    metrics_path=snakemake.output.metrics,
    units_csv_path=snakemake.output.units,
    cycles_csv_path=snakemake.output.cycles,
    figure_data_npz_path=snakemake.output.figure_data,
)
