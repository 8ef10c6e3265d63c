"""Thin adapter: snakemake.* -> rnnlab.circuits.toys.stage.lif_stage."""

from rnnlab.circuits.toys.stage import lif_stage
from rnnlab.pipeline.logs import setup_logging

setup_logging(snakemake.log[0])
lif_stage(
    snakemake.params.lif,
    metrics_path=snakemake.output.metrics,
    fi_csv_path=snakemake.output.fi,
    traces_npz_path=snakemake.output.traces,
)
