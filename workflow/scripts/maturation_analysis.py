"""Thin adapter: snakemake.* -> rnnlab.analysis.maturation_units.analysis_stage."""

from pathlib import Path

from rnnlab.analysis.maturation_units import analysis_stage
from rnnlab.pipeline.logs import setup_logging

setup_logging(snakemake.log[0])
out = snakemake.output
analysis_stage(
    snakemake.params.analysis,
    {Path(p).stem: p for p in snakemake.input.activity},
    metrics_path=out.metrics,
    counts_csv=out.counts,
    psth_npz=out.psth,
    psth_csv=out.psth_csv,
    tuning_csv=out.tuning,
    delay_csv=out.delay,
    growth_csv=out.growth,
)
