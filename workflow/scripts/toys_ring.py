"""Thin adapter: snakemake.* -> rnnlab.circuits.toys.stage.ring_stage."""

from rnnlab.circuits.toys.stage import ring_stage
from rnnlab.pipeline.logs import setup_logging

setup_logging(snakemake.log[0])
ring_stage(
    snakemake.params.ring,
    metrics_path=snakemake.output.metrics,
    bumps_csv_path=snakemake.output.bumps,
    arrays_npz_path=snakemake.output.arrays,
)
