"""Shared training scaffolding: stop requests, divergence checks, resume files, best state.

Every trainer (ZRNN, PRNN, CSG, maturation, IZRNN) uses these, so preemption, resuming and
divergence behave the same way everywhere: SIGTERM/SIGINT become a flag checked after each
step, a resume file is reused only by the run whose settings fingerprint it carries, and a
NaN/inf loss or weight stops the run naming the step while the last resume state stays on disk.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager, suppress
from pathlib import Path
from typing import Any, Literal

import torch
from tqdm import tqdm

from rnnlab.io import load_checkpoint, save_checkpoint

log = logging.getLogger(__name__)


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


def progress_bar(total: int, initial: int, desc: str, *, leave: bool = False) -> closing[tqdm]:
    """A tqdm bar (silent when not on a terminal), closed when its ``with`` block ends."""
    return closing(tqdm(total=total, initial=initial, desc=desc, disable=None, leave=leave))


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


def load_resume(
    path: str | os.PathLike[str],
    fingerprint: str,
    *,
    map_location: str | torch.device = "cpu",
    other_params: Literal["move_aside", "delete", "keep"] = "move_aside",
) -> dict[str, Any] | None:
    """The resume state at ``path`` if it exists and belongs to this run (same fingerprint).

    A file written under other params is never used; ``other_params`` says what happens to it:
    moved aside (``<name>.other-params-<fingerprint>``, kept for inspection), deleted, or
    left in place (the next save overwrites it). Loading never unpickles objects.
    """
    path = Path(path)
    if not path.exists():
        return None
    state = load_checkpoint(path, map_location=map_location)
    if state.get("fingerprint") == fingerprint:
        return state
    if other_params == "move_aside":
        aside = path.with_name(f"{path.name}.other-params-{state.get('fingerprint')}")
        path.replace(aside)
        log.warning("resume file %s belongs to other params: moved to %s", path, aside)
    elif other_params == "delete":
        path.unlink()
        log.warning("resume file %s belongs to other params: starting afresh", path)
    return None


def save_resume(path: str | os.PathLike[str], fingerprint: str, state: dict[str, Any]) -> None:
    """Atomically write a resume state, tagged with the run's fingerprint."""
    save_checkpoint(path, {"fingerprint": fingerprint, **state})


def restore_generator(generator: torch.Generator, state: torch.Tensor) -> None:
    """Set a generator's state saved by ``get_state`` (loaded onto any device)."""
    generator.set_state(state.to(generator.get_state().device))


def snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A detached copy of the model's state dict (the best state seen so far)."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


class ResumableRun:
    """What a step-based trainer must carry across a preemption, and its resume file.

    Holds the step count, the curve rows, the training losses since the last validation
    (``window``), the best validation scores with their state dict, and the wall clock; saves
    them with the model, optimiser and generator states, and restores them from a resume file
    that carries the same fingerprint. The trainer keeps its own loop, loss and validation.
    ``best`` starts as ``best_scores`` (each +inf), ``best_at`` = -1 and no state dict; its
    keys are saved as ``best_<key>``.
    """

    def __init__(
        self,
        resume_path: str | os.PathLike[str] | None,
        fingerprint: str,
        model: torch.nn.Module,
        optimiser: torch.optim.Optimizer,
        generators: dict[str, torch.Generator],
        best_scores: tuple[str, ...],
        *,
        best_at: str = "step",
    ) -> None:
        self.resume = Path(resume_path) if resume_path else None
        self.fingerprint = fingerprint
        self.model = model
        self.optimiser = optimiser
        self.generators = generators
        self.best_scores = best_scores
        self.best_at = best_at
        self.step = 0
        self.curve: list[dict[str, Any]] = []
        self.window: list[float] = []
        self.best: dict[str, Any] = {k: float("inf") for k in best_scores}
        self.best.update({best_at: -1, "state_dict": None})
        self.start = time.perf_counter()

    def restore(self, map_location: str | torch.device = "cpu") -> bool:
        """Continue from the resume file when it fits this run; True if it did."""
        if self.resume is None:
            return False
        state = load_resume(self.resume, self.fingerprint, map_location=map_location)
        if state is None:
            return False
        self.model.load_state_dict(state["model"])
        self.optimiser.load_state_dict(state["optimiser"])
        for name, generator in self.generators.items():
            restore_generator(generator, state[name])
        self.step = int(state["step"])
        self.curve = [dict(row) for row in state["curve"]]
        self.best = {k: float(state[f"best_{k}"]) for k in self.best_scores}
        self.best.update(
            {
                self.best_at: int(state[f"best_{self.best_at}"]),
                "state_dict": state["best_state_dict"],
            }
        )
        self.window = [float(v) for v in state["window"]]
        self.start = time.perf_counter() - float(state["seconds"])
        log.info("resumed from step %d (%s)", self.step, self.resume)
        return True

    def elapsed(self) -> float:
        """Wall-clock seconds of the run, time before a preemption included."""
        return time.perf_counter() - self.start

    def keep_best(self, at: int, **scores: float) -> None:
        """Record new best ``scores`` reached at step/epoch ``at``, with a copy of the weights."""
        self.best = {**scores, self.best_at: at, "state_dict": snapshot(self.model)}

    def save(self) -> None:
        """Write the resume file (atomically); nothing without a resume path."""
        if self.resume is None:
            return
        state: dict[str, Any] = {
            "model": self.model.state_dict(),
            "optimiser": self.optimiser.state_dict(),
        }
        state.update({name: g.get_state() for name, g in self.generators.items()})
        state.update(step=self.step, curve=self.curve, window=self.window)
        state.update({f"best_{k}": v for k, v in self.best.items()})
        state["seconds"] = self.elapsed()
        save_resume(self.resume, self.fingerprint, state)

    def stop_if_requested(self, stop: dict[str, int]) -> None:
        """After a SIGTERM/SIGINT: save the resume file and raise :class:`TrainingInterrupted`."""
        if stop["signal"]:
            self.save()
            raise TrainingInterrupted(
                f"signal {stop['signal']} at step {self.step}: state saved to {self.resume}; "
                "rerun to resume"
            )

    def discard_resume(self) -> None:
        """Delete the resume file once the outputs are written."""
        if self.resume is not None and self.resume.exists():
            self.resume.unlink()
