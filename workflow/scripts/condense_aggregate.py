"""Thin adapter: snakemake.* -> rnnlab.analysis.condense_aggregate.aggregate_stage."""

from pathlib import Path

from rnnlab.analysis.condense_aggregate import aggregate_stage
from rnnlab.pipeline.logs import setup_logging

setup_logging(snakemake.log[0])
# inputs: results/condense/net<n>/<method>/metrics.json; outputs: results/condense/<method>/...
per_method: dict[str, dict[str, str]] = {}
for path in snakemake.input.metrics:
    p = Path(path)
    per_method.setdefault(p.parent.name, {})[p.parent.parent.name.removeprefix("net")] = path
aggregate_stage(per_method, {Path(p).parent.name: p for p in snakemake.output.metrics})
