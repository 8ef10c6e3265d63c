"""Thin adapter: snakemake.* -> rnnlab.analysis.maturation_dpca.dpca_stage."""

from rnnlab.analysis.maturation_dpca import dpca_stage
from rnnlab.pipeline.logs import setup_logging

setup_logging(snakemake.log[0])
dpca_stage(
    snakemake.params.dpca,
    snakemake.input.activity,
    npz_path=snakemake.output.npz,
    metrics_path=snakemake.output.metrics,
)
