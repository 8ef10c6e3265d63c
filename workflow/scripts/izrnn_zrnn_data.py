"""Thin adapter: snakemake.* -> rnnlab.tasks.izrnn.write_izrnn_zrnn_sets."""

from rnnlab.pipeline.logs import setup_logging
from rnnlab.tasks.izrnn import write_izrnn_zrnn_sets

setup_logging(snakemake.log[0])
write_izrnn_zrnn_sets(
    snakemake.params.task,
    snakemake.params.data,
    snakemake.params.retrain,
    val_path=snakemake.output.val,
    test_path=snakemake.output.test,
)
