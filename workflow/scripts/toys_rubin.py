"""Thin adapter: snakemake.* -> rnnlab.circuits.toys.stage.rubin_stage."""

from rnnlab.circuits.toys.stage import rubin_stage
from rnnlab.pipeline.logs import setup_logging

setup_logging(snakemake.log[0])
rubin_stage(
    snakemake.params.rubin,
    metrics_path=snakemake.output.metrics,
    conditions_csv_path=snakemake.output.conditions,
    traces_npz_path=snakemake.output.traces,
)
