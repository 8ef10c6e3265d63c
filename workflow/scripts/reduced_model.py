"""Thin adapter: snakemake.* -> rnnlab.circuits.reduced_rhythm.reduced_model_stage."""

from rnnlab.circuits.reduced_rhythm import reduced_model_stage
from rnnlab.pipeline.logs import setup_logging

setup_logging(snakemake.log[0])
reduced_model_stage(
    snakemake.params.reduced,
    metrics_path=snakemake.output.metrics,
    curve_csv_path=snakemake.output.curve,
    arrays_npz_path=snakemake.output.arrays,
)
