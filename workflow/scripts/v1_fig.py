"""Thin adapter: snakemake.* -> rnnlab.plots.v1 (simulation figures; tuning history if asked)."""

from pathlib import Path

from rnnlab.pipeline.logs import setup_logging
from rnnlab.plots.v1 import fig_v1_stage, fig_v1_tune_stage

setup_logging(snakemake.log[0])
out = snakemake.output
fig_v1_stage(
    snakemake.params.figures,
    in_dir=Path(snakemake.input[0]).parent,  # results/v1/{simulate,best}
    pngs={k: out[k] for k in ("weights", "selectivity", "activity", "weights_time", "rates")},
)
if getattr(out, "tuning", None):  # fig_v1_best also draws the tuning history
    fig_v1_tune_stage(
        snakemake.params.figures,
        trials_csv=snakemake.input.trials,
        metrics_json=snakemake.input.tune,
        png=out.tuning,
    )
