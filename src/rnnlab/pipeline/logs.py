"""Route a stage's logging (and warnings) to its Snakemake ``log:`` file.

Every rule script calls :func:`setup_logging` first, so it is also where process-wide
settings every stage wants are applied: the glibc allocator tuning of
:mod:`rnnlab.allocator` (the CTRNN recurrence applies it too, for use outside the pipeline).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from rnnlab.allocator import tune_malloc


def setup_logging(log_path: str | None = None) -> None:
    """Log INFO to ``log_path`` (created) or to stderr when no path is given; tune malloc."""
    tune_malloc()  # large per-step buffers (BPTT, LSTM) reused instead of re-mapped
    handlers: list[logging.Handler]
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers = [logging.FileHandler(log_path, mode="w")]
    else:
        handlers = [logging.StreamHandler(sys.stderr)]
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        handlers=handlers,
        force=True,
    )
    logging.captureWarnings(True)
