"""Thin adapter: snakemake.* -> rnnlab.tasks.prnn.write_prnn_sets."""

from rnnlab.pipeline.logs import setup_logging
from rnnlab.tasks.prnn import write_prnn_sets

setup_logging(snakemake.log[0])
write_prnn_sets(
    snakemake.params.task,
    snakemake.params.data,
    val_path=snakemake.output.val,
    test_path=snakemake.output.test,
)
