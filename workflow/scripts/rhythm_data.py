"""Thin adapter: snakemake.* -> rnnlab.tasks.rhythm.write_rhythm_sets."""

from rnnlab.pipeline.logs import setup_logging
from rnnlab.tasks.rhythm import write_rhythm_sets

setup_logging(snakemake.log[0])
write_rhythm_sets(
    snakemake.params.task,
    snakemake.params.data,
    val_path=snakemake.output.val,
    test_path=snakemake.output.test,
)
