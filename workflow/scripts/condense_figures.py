"""Thin adapter: snakemake.* -> rnnlab.plots.condense.condense_figures."""

from pathlib import Path

from rnnlab.pipeline.logs import setup_logging
from rnnlab.plots.condense import condense_figures

setup_logging(snakemake.log[0])
inputs = {
    k: getattr(snakemake.input, k)
    for k in (
        "summary",
        "aggregates",
        "csg",
        "originals",
        "original_arrays",
        "metrics",
        "curves",
        "arrays",
        "sweeps",
        "sweep_tables",
    )
}
outputs = {
    k: getattr(snakemake.output, k)
    for k in ("performance", "similarity", "ramps_pca", "fixed_points", "size_sweep", "networks")
}
condense_figures(
    methods=[Path(p).parent.name for p in snakemake.input.aggregates],
    inputs=inputs,
    outputs=outputs,
    dpi=int(snakemake.params.figures["dpi"]),
)
