"""Thin adapter: snakemake.* -> rnnlab.analysis.maturation_units.single_unit_stage."""

from rnnlab.analysis.maturation_units import single_unit_stage
from rnnlab.pipeline.logs import setup_logging

setup_logging(snakemake.log[0])
single_unit_stage(
    snakemake.params.unit,
    snakemake.params.analysis,
    snakemake.input.activity,
    npz_path=snakemake.output.npz,
)
