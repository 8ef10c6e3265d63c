"""Shared training scaffolding: stop requests, divergence checks, the guarded optimiser step.

Every trainer (ZRNN, PRNN, …) uses these, so preemption and divergence behave the same way
everywhere: SIGTERM/SIGINT become a flag checked after each step, and a NaN/inf loss or
weight stops the run naming the step while the last resume state stays on disk.
"""

from __future__ import annotations

import hashlib
import json
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

import torch


class TrainingDiverged(RuntimeError):
    """Loss or weights became NaN/inf; the last good resume state is kept."""


class TrainingInterrupted(RuntimeError):
    """SIGTERM/SIGINT arrived; the state was saved and the rule can simply be rerun."""


@contextmanager
def stop_requests() -> Iterator[dict[str, int]]:
    """Turn SIGTERM/SIGINT into a flag checked after every step (SLURM sends SIGTERM)."""
    flag = {"signal": 0}

    def handler(signum: int, _frame: Any) -> None:
        flag["signal"] = signum

    previous = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        # outside the main thread signal() raises: keep the default handlers there
        with suppress(ValueError):
            previous[sig] = signal.signal(sig, handler)
    try:
        yield flag
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def run_fingerprint(*parts: Any) -> str:
    """Short hash of the settings that define a run (decides whether a resume file fits)."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def guarded_step(
    model: torch.nn.Module,
    optimiser: torch.optim.Optimizer,
    loss: torch.Tensor,
    *,
    step: int,
    resume: Any,
    grad_clip_norm: float,
    after_step: Callable[[], None] | None = None,
) -> float:
    """Backward + (clipped) optimiser step with divergence checks; returns the loss value.

    ``step`` is the number of steps already done; ``after_step`` runs right after the
    optimiser (e.g. a Dale projection) and before the weights are checked.
    """
    if not torch.isfinite(loss):
        raise TrainingDiverged(
            f"step {step + 1}: training loss is {float(loss.detach())}; the last good "
            f"state (step {step}) is kept in {resume}. Lower lr or raise grad_clip_norm."
        )
    optimiser.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip_norm > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip_norm)
    optimiser.step()
    if after_step is not None:
        after_step()
    if not all(torch.isfinite(p).all() for p in model.parameters()):
        raise TrainingDiverged(
            f"step {step + 1}: weights became NaN/inf; the last good state "
            f"(step {step}) is kept in {resume}."
        )
    return float(loss.detach())
