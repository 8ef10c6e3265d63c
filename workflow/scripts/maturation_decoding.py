"""Thin adapter: snakemake.* -> rnnlab.analysis.maturation_decoding.decoding_stage."""

from rnnlab.analysis.maturation_decoding import decoding_stage
from rnnlab.pipeline.logs import setup_logging

setup_logging(snakemake.log[0])
decoding_stage(
    snakemake.params.decoding,
    snakemake.input.activity,
    npz_path=snakemake.output.npz,
    metrics_path=snakemake.output.metrics,
)
