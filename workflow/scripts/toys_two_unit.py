"""Thin adapter: snakemake.* -> rnnlab.circuits.toys.stage.two_unit_stage."""

from rnnlab.circuits.toys.stage import two_unit_stage
from rnnlab.pipeline.logs import setup_logging

setup_logging(snakemake.log[0])
two_unit_stage(
    snakemake.params.two_unit,
    metrics_path=snakemake.output.metrics,
    arrays_npz_path=snakemake.output.arrays,
)
