"""Train the ZRNN on synchronisation–continuation trials (rhythm.md §4, with fixes).

Adam on MSE over whole trials, a fresh seeded batch per step, gradient-norm clipping
(needed at small N, rhythm.md §17). Every ``val_every`` steps two validation numbers are
taken, both with fixed noise draws so they are comparable across steps:

- ``val_mse``: MSE on the fixed, seeded validation set (pulses + continuation);
- ``val_mare``: the timing error itself — a short pulse-free drive at every trained cue,
  taps found by the task's detector, mean absolute relative interval error (a tempo
  that does not oscillate counts 100 %).

MSE is phase-sensitive and noisy as a timing score (a net can keep perfect time with a
drifted phase, rhythm.md §17), so the best checkpoint is chosen by ``select_by``
(``val_mare``, ties by MSE; or ``val_mse`` for fidelity with the original), and training
stops early once both ``val_mse <= target_val_mse`` and ``val_mare <= target_val_mare``.
A resume file beside the outputs lets an interrupted run continue from its last
validation point with identical numbers.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from rnnlab.io import load_checkpoint, save_checkpoint, write_csv, write_json
from rnnlab.models.ctrnn import CTRNN
from rnnlab.models.zrnn import build_zrnn
from rnnlab.params import section_values
from rnnlab.tasks.rhythm import RhythmTaskConfig, build_trials, load_set, sample_batch
from rnnlab.tasks.taps import TapDetector, continuation_metrics
from rnnlab.train.common import (
    ResumableRun,
    guarded_step,
    progress_bar,
    run_fingerprint,
    stop_requests,
)
from rnnlab.train.device import pick_device

log = logging.getLogger(__name__)
CURVE_COLUMNS = ["step", "train_mse", "val_mse", "val_mare", "seconds"]


@dataclass(frozen=True)
class TrainSettings:
    """The ``rhythm.zrnn.train`` params section."""

    seed: int
    batch_size: int
    lr: float
    max_steps: int
    grad_clip_norm: float
    val_every: int
    target_val_mse: float
    target_val_mare: float
    select_by: str
    val_drive_s: float
    val_discard_s: float
    val_noise_seed: int
    val_noise_draws: int = 1
    device: str = "auto"

    @classmethod
    def from_params(cls, section: dict[str, Any]) -> TrainSettings:
        return cls(**section_values(cls, section, "rhythm.zrnn.train", strict=True))


@torch.no_grad()
def drive_pulse_free(
    model: CTRNN,
    task: RhythmTaskConfig,
    periods_s: np.ndarray,
    *,
    drive_s: float,
    onset_s: float,
    noise_seed: int | None,
    keep_rates_from_s: float | None = None,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Outputs (n_periods, T) of the net driven by the cue alone, one batch for all cues.

    Recurrent noise is on (drawn from ``noise_seed``) unless ``noise_seed`` is None. With
    ``keep_rates_from_s`` the rates from that time on are returned too, as float32
    (n_periods, T', N) — only the window an analysis needs, never the transient.
    """
    device = next(model.parameters()).device
    steps = int(round(drive_s / task.dt_s))
    periods = torch.as_tensor(np.asarray(periods_s, dtype=np.float64))
    onsets = torch.full_like(periods, onset_s)
    inputs, _ = build_trials(task, periods, onsets, n_steps=steps, with_pulses=False)
    gen = None if noise_seed is None else torch.Generator(device=device).manual_seed(noise_seed)
    was_training = model.training
    model.eval()
    out, rates = model(inputs.to(device), noise_generator=gen)
    model.train(was_training)
    outputs = out[..., 0].cpu().numpy()
    if keep_rates_from_s is None:
        return outputs
    first = int(round(keep_rates_from_s / task.dt_s))
    return outputs, rates[:, first:].cpu().numpy().astype(np.float32)


@torch.no_grad()
def validation_mse(
    model: CTRNN, inputs: torch.Tensor, target: torch.Tensor, noise_seed: int
) -> float:
    """MSE on the fixed validation set, with a fixed noise draw so values are comparable."""
    was_training = model.training
    model.eval()
    gen = torch.Generator(device=inputs.device).manual_seed(noise_seed)
    out, _ = model(inputs, noise_generator=gen)
    model.train(was_training)
    return float(torch.mean((out - target) ** 2))


def validation_mare(model: CTRNN, task: RhythmTaskConfig, settings: TrainSettings) -> float:
    """Continuation timing error at the trained cues on a fixed-noise pulse-free drive.

    Each cue is driven ``val_noise_draws`` times with independent noise (one batch) and the
    MARE averages over all drives, so a tempo that keeps going only under some noise draws
    (marginal slow tempos) counts as the partial failure it is.
    """
    periods = np.repeat(np.asarray(task.periods_s, dtype=np.float64), settings.val_noise_draws)
    outputs = drive_pulse_free(
        model,
        task,
        periods,
        drive_s=settings.val_drive_s,
        onset_s=0.0,
        noise_seed=settings.val_noise_seed,
    )
    return continuation_metrics(outputs, periods, task.dt_s, settings.val_discard_s, TapDetector())[
        "mare"
    ]


def _selection_key(settings: TrainSettings, val_mse: float, val_mare: float) -> tuple:
    if settings.select_by == "val_mare":
        return (val_mare, val_mse)
    return (val_mse, val_mare)


def train_zrnn(
    task: RhythmTaskConfig,
    model_params: dict[str, Any],
    train_params: dict[str, Any],
    val_set: dict[str, np.ndarray],
    *,
    checkpoint_path: str | os.PathLike[str],
    curve_path: str | os.PathLike[str],
    metrics_path: str | os.PathLike[str],
    resume_path: str | os.PathLike[str] | None = None,
    threads: int | None = None,
) -> dict[str, Any]:
    """Train, write checkpoint / loss curve CSV / metrics JSON, return the metrics."""
    settings = TrainSettings.from_params(train_params)
    if threads:
        torch.set_num_threads(int(threads))
    device = pick_device(settings.device)
    # a resume file is reused only for the same run; the step budget and device may change
    resumable = {k: v for k, v in train_params.items() if k not in ("max_steps", "device")}
    fingerprint = run_fingerprint(task.to_dict(), model_params, resumable)

    model = build_zrnn(model_params, task.dt_s, seed=settings.seed).to(device)
    optimiser = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=settings.lr)
    data_gen = torch.Generator().manual_seed(settings.seed + 1)
    noise_gen = torch.Generator(device=device).manual_seed(settings.seed + 2)
    val_inputs = torch.as_tensor(val_set["inputs"], device=device)
    val_target = torch.as_tensor(val_set["target"], device=device)

    if settings.select_by not in ("val_mare", "val_mse"):
        raise ValueError(f"select_by must be val_mare or val_mse, got {settings.select_by!r}")
    rngs = {"data_gen": data_gen, "noise_gen": noise_gen}
    run = ResumableRun(resume_path, fingerprint, model, optimiser, rngs, ("val_mse", "val_mare"))
    run.restore(map_location=device)

    def reached(val_mse: float, val_mare: float) -> bool:
        return val_mse <= settings.target_val_mse and val_mare <= settings.target_val_mare

    stopped_early = bool(run.curve) and reached(run.curve[-1]["val_mse"], run.curve[-1]["val_mare"])
    model.train()
    with (
        stop_requests() as stop,
        progress_bar(settings.max_steps, run.step, "train zrnn") as progress,
    ):
        while run.step < settings.max_steps and not stopped_early:
            inputs, target = sample_batch(task, settings.batch_size, data_gen)
            inputs, target = inputs.to(device), target.to(device)
            out, _ = model(inputs, noise_generator=noise_gen)
            loss = torch.mean((out - target) ** 2)
            loss_value = guarded_step(
                model,
                optimiser,
                loss,
                step=run.step,
                resume=run.resume,
                grad_clip_norm=settings.grad_clip_norm,
                after_step=model.project_,
            )
            run.step += 1
            run.window.append(loss_value)
            progress.update(1)

            if run.step % settings.val_every == 0 or run.step == settings.max_steps:
                val = validation_mse(model, val_inputs, val_target, settings.val_noise_seed)
                mare = validation_mare(model, task, settings)
                seconds = run.elapsed()
                run.curve.append(
                    {
                        "step": run.step,
                        "train_mse": float(np.mean(run.window)),
                        "val_mse": val,
                        "val_mare": mare,
                        "seconds": seconds,
                    }
                )
                run.window = []
                best = run.best
                if _selection_key(settings, val, mare) < _selection_key(
                    settings, best["val_mse"], best["val_mare"]
                ):
                    run.keep_best(run.step, val_mse=val, val_mare=mare)
                stopped_early = reached(val, mare)
                log.info(
                    "step %d train %.4f val_mse %.4f val_mare %.4f (%.0f s)",
                    run.step,
                    run.curve[-1]["train_mse"],
                    val,
                    mare,
                    seconds,
                )
                progress.set_postfix(val_mse=f"{val:.4f}", val_mare=f"{mare:.3f}")
                run.save()
            run.stop_if_requested(stop)
    seconds = run.elapsed()
    step, curve, best = run.step, run.curve, run.best

    if best["state_dict"] is None:  # max_steps == 0: keep the initial weights
        best = {
            "val_mse": validation_mse(model, val_inputs, val_target, settings.val_noise_seed),
            "val_mare": validation_mare(model, task, settings),
            "step": step,
            "state_dict": model.state_dict(),
        }
    payload = {
        "model_config": model.config.to_dict(),
        "state_dict": {k: v.cpu() for k, v in best["state_dict"].items()},
        "task_config": task.to_dict(),
        "train": {
            "best_step": best["step"],
            "best_val_mse": best["val_mse"],
            "best_val_mare": best["val_mare"],
            "steps": step,
        },
    }
    save_checkpoint(checkpoint_path, payload)
    write_csv(curve_path, curve, CURVE_COLUMNS)
    metrics = {
        "train": {
            "best_val_mse": best["val_mse"],
            "best_val_mare": best["val_mare"],
            "best_step": best["step"],
            "steps": step,
            "seconds": seconds,
            "stopped_early": bool(stopped_early),
            "reached_target": reached(best["val_mse"], best["val_mare"]),
            "device": str(device),
        }
    }
    write_json(metrics_path, metrics)
    run.discard_resume()
    return metrics


def load_trained_zrnn(
    path: str | os.PathLike[str], device: str | torch.device = "cpu"
) -> tuple[CTRNN, RhythmTaskConfig, dict[str, Any]]:
    """Model, task and training info from a checkpoint written by :func:`train_zrnn`."""
    payload = load_checkpoint(path, map_location=device)
    model = CTRNN.from_checkpoint(payload).to(device)
    model.eval()
    return model, RhythmTaskConfig.from_params(payload["task_config"]), payload["train"]


def train_zrnn_stage(
    task_params: dict[str, Any],
    zrnn_params: dict[str, Any],
    val_path: str,
    checkpoint_path: str,
    curve_path: str,
    metrics_path: str,
    resume_path: str | None = None,
    threads: int | None = None,
) -> dict[str, Any]:
    """Stage ``train_zrnn``: params sections and paths in, checkpoint/curve/metrics out."""
    return train_zrnn(
        RhythmTaskConfig.from_params(task_params),
        zrnn_params["model"],
        zrnn_params["train"],
        load_set(val_path),
        checkpoint_path=checkpoint_path,
        curve_path=curve_path,
        metrics_path=metrics_path,
        resume_path=resume_path,
        threads=threads,
    )
