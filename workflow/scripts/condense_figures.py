"""Thin adapter: snakemake.* -> rnnlab.plots.condense.condense_figures."""

from pathlib import Path

from rnnlab.pipeline.logs import setup_logging
from rnnlab.plots.condense import condense_figures

setup_logging(snakemake.log[0])
inputs = {
    k: getattr(snakemake.input, k)
    for k in (
        "summary",
        "csg",
        "original",
        "original_arrays",
        "metrics",
        "curves",
        "arrays",
        "sweep",
        "sweep_table",
        "sweep_arrays",
    )
}
outputs = {
    k: getattr(snakemake.output, k)
    for k in ("performance", "similarity", "ramps_pca", "fixed_points", "size_sweep")
}
condense_figures(
    methods=[Path(p).parent.name for p in snakemake.input.metrics],
    inputs=inputs,
    outputs=outputs,
    dpi=int(snakemake.params.figures["dpi"]),
)
