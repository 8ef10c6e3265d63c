"""Train the PRNN period estimator (rhythm.md §8.3, with the §13 fixes).

Adam on the masked MSE (valid steps only: after the second pulse, inside each trial) over
fresh seeded batches of variable-length trials; optional gradient-norm clipping and a
per-epoch learning-rate decay. An epoch is ``batches_per_epoch`` batches. After every epoch
the masked MSE on the FIXED seeded validation set (held-out periods) is taken, plus the
end-of-trial MAE and R² on it; the best checkpoint is the lowest validation MSE, and training
stops early once it is <= ``target_val_mse`` (the original: 0.001). A resume file keeps the
model, optimiser, data-generator state and curve after every epoch (and on SIGTERM), so an
interrupted run continues with identical numbers.

Differences from the original: seeded data and init, a fixed validation set on periods
disjoint from training (the original redrew it every epoch and shared 0.55 s), the mask,
optional clipping and learning-rate decay, and the optional init changes of
:mod:`rnnlab.models.prnn` (``rhythm.prnn.model``: readout bias at the mean training period,
scaled input weights, chrono gate biases) that the CPU default needs to learn within minutes.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from rnnlab.io import load_checkpoint, save_checkpoint, write_csv, write_json
from rnnlab.models.prnn import PRNN, PRNNConfig, masked_mse
from rnnlab.params import section_values
from rnnlab.tasks.prnn import (
    PRNNTaskConfig,
    check_disjoint,
    load_prnn_set,
    period_sets,
    sample_batch,
    write_prnn_sets,
)
from rnnlab.train.common import (
    ResumableRun,
    guarded_step,
    progress_bar,
    run_fingerprint,
    stop_requests,
)
from rnnlab.train.device import pick_device

__all__ = [
    "CURVE_COLUMNS",
    "PRNNTrainSettings",
    "load_trained_prnn",
    "predict",
    "train_prnn",
    "train_prnn_stage",
    "validation_scores",
    "write_prnn_sets",
]

log = logging.getLogger(__name__)

CURVE_COLUMNS = [
    "epoch",
    "step",
    "train_mse",
    "val_mse",
    "val_end_mae",
    "val_end_r2",
    "lr",
    "best",
    "seconds",
]


@dataclass(frozen=True)
class PRNNTrainSettings:
    """The ``rhythm.prnn.train`` params section (all keys required)."""

    seed: int
    batch_size: int
    lr: float
    lr_decay: float
    batches_per_epoch: int
    max_epochs: int
    grad_clip_norm: float
    target_val_mse: float
    val_batch_size: int
    pack_sequences: bool
    device: str

    @classmethod
    def from_params(cls, section: dict[str, Any]) -> PRNNTrainSettings:
        return cls(**section_values(cls, section, "prnn train params"))


def build_prnn(model_params: dict[str, Any], train_periods_s: np.ndarray, seed: int) -> PRNN:
    """A freshly initialised PRNN from ``rhythm.prnn.model``; draws from ``seed``."""
    bias = float(np.mean(train_periods_s)) if model_params["bias_at_prior_mean"] else 0.0
    config = PRNNConfig(
        n_hidden=int(model_params["n_hidden"]),
        output_bias_s=bias,
        chrono_t_max=float(model_params["chrono_t_max"]),
        input_init_scale=float(model_params["input_init_scale"]),
    )
    return PRNN(config, generator=torch.Generator().manual_seed(int(seed)))


@torch.no_grad()
def predict(
    model: PRNN,
    pulses: np.ndarray | torch.Tensor,
    lengths: np.ndarray | torch.Tensor | None = None,
    *,
    batch_size: int = 64,
    pack: bool = False,
) -> np.ndarray:
    """Estimates (B, T) float32 in eval mode, ``batch_size`` trials per forward pass."""
    device = next(model.parameters()).device
    pulses = torch.as_tensor(pulses)
    lens = None if lengths is None else torch.as_tensor(lengths)
    was_training = model.training
    model.eval()
    out = []
    for start in range(0, len(pulses), batch_size):
        chunk_len = None if lens is None else lens[start : start + batch_size]
        est, _ = model(
            pulses[start : start + batch_size].to(device),
            None if chunk_len is None else chunk_len.to(device),
            pack=pack,
        )
        out.append(est.cpu().numpy().astype(np.float32))
    model.train(was_training)
    return np.concatenate(out)


def _r2(pred: np.ndarray, true: np.ndarray) -> float:
    ss_tot = float(((true - true.mean()) ** 2).sum())
    return float("nan") if ss_tot == 0 else 1.0 - float(((pred - true) ** 2).sum()) / ss_tot


def validation_scores(
    model: PRNN, val_set: dict[str, np.ndarray], batch_size: int, pack: bool = False
) -> dict[str, float]:
    """Masked MSE over the fixed set, and MAE / R² of the estimate at each trial's last step."""
    est = predict(model, val_set["pulses"], val_set["lengths"], batch_size=batch_size, pack=pack)
    periods = np.asarray(val_set["periods_s"], dtype=np.float64)
    mask = np.asarray(val_set["mask"], dtype=bool)
    err = (est.astype(np.float64) - periods[:, None]) ** 2
    mse = float(err[mask].sum() / max(1, mask.sum()))
    last = est[np.arange(len(periods)), np.asarray(val_set["lengths"]) - 1].astype(np.float64)
    return {
        "val_mse": mse,
        "val_end_mae": float(np.abs(last - periods).mean()),
        "val_end_r2": _r2(last, periods),
    }


def train_prnn(
    task: PRNNTaskConfig,
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
    """Train, write checkpoint / per-epoch curve CSV / metrics JSON, return the metrics."""
    settings = PRNNTrainSettings.from_params(train_params)
    if threads:
        torch.set_num_threads(int(threads))
    device = pick_device(settings.device)
    sets = period_sets(task.periods)
    check_disjoint({"train": sets["train"], "val_set": np.unique(val_set["periods_s"])})
    resumable = {k: v for k, v in train_params.items() if k not in ("max_epochs", "device")}
    fingerprint = run_fingerprint(task.to_dict(), model_params, resumable)

    model = build_prnn(model_params, sets["train"], settings.seed).to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=settings.lr)
    data_gen = torch.Generator().manual_seed(settings.seed + 1)
    per_epoch = settings.batches_per_epoch
    max_steps = settings.max_epochs * per_epoch

    run = ResumableRun(
        resume_path,
        fingerprint,
        model,
        optimiser,
        {"data_gen": data_gen},
        best_scores=("val_mse",),
        best_at="epoch",
    )
    run.restore(map_location=device)
    stopped_early = bool(run.curve) and run.curve[-1]["val_mse"] <= settings.target_val_mse

    def lr_at(epoch: int) -> float:
        return settings.lr * settings.lr_decay**epoch

    model.train()
    with (
        stop_requests() as stop,
        progress_bar(max_steps, run.step, "train prnn") as progress,
    ):
        while run.step < max_steps and not stopped_early:
            for group in optimiser.param_groups:
                group["lr"] = lr_at(run.step // per_epoch)
            batch = sample_batch(task, sets["train"], settings.batch_size, data_gen)
            est, _ = model(
                batch["pulses"].to(device),
                batch["lengths"].to(device),
                pack=settings.pack_sequences,
            )
            loss = masked_mse(est, batch["target"].to(device), batch["mask"].to(device))
            loss_value = guarded_step(
                model,
                optimiser,
                loss,
                step=run.step,
                resume=run.resume,
                grad_clip_norm=settings.grad_clip_norm,
            )
            run.step += 1
            run.window.append(loss_value)
            progress.update(1)

            if run.step % per_epoch == 0:
                epoch = run.step // per_epoch
                scores = validation_scores(
                    model, val_set, settings.val_batch_size, settings.pack_sequences
                )
                improved = scores["val_mse"] < run.best["val_mse"]
                if improved:
                    run.keep_best(epoch, val_mse=scores["val_mse"])
                run.curve.append(
                    {
                        "epoch": epoch,
                        "step": run.step,
                        "train_mse": float(np.mean(run.window)),
                        **scores,
                        "lr": lr_at(epoch - 1),
                        "best": int(improved),
                        "seconds": run.elapsed(),
                    }
                )
                run.window = []
                stopped_early = scores["val_mse"] <= settings.target_val_mse
                log.info(
                    "epoch %d train %.5f val %.5f end R2 %.4f (%.0f s)",
                    epoch,
                    run.curve[-1]["train_mse"],
                    scores["val_mse"],
                    scores["val_end_r2"],
                    run.curve[-1]["seconds"],
                )
                progress.set_postfix(val_mse=f"{scores['val_mse']:.5f}")
                run.save()
            run.stop_if_requested(stop)
    seconds = run.elapsed()
    step, curve, best = run.step, run.curve, run.best

    if best["state_dict"] is None:  # no full epoch: keep the current weights
        scores = validation_scores(model, val_set, settings.val_batch_size)
        best = {"val_mse": scores["val_mse"], "epoch": 0, "state_dict": model.state_dict()}
    payload = {
        "model_config": model.config.to_dict(),
        "state_dict": {k: v.cpu() for k, v in best["state_dict"].items()},
        "task_config": task.to_dict(),
        "periods": {k: [float(p) for p in v] for k, v in sets.items()},
        "train": {
            "best_epoch": best["epoch"],
            "best_val_mse": best["val_mse"],
            "epochs": step // per_epoch,
            "steps": step,
        },
    }
    save_checkpoint(checkpoint_path, payload)
    write_csv(curve_path, curve, CURVE_COLUMNS)
    best_row = next((r for r in curve if r["epoch"] == best["epoch"]), {})
    metrics = {
        "train": {
            "best_val_mse": best["val_mse"],
            "best_val_end_mae": best_row.get("val_end_mae"),
            "best_val_end_r2": best_row.get("val_end_r2"),
            "best_epoch": best["epoch"],
            "epochs": step // per_epoch,
            "steps": step,
            "seconds": seconds,
            "seconds_per_step": seconds / max(1, step),
            "stopped_early": bool(stopped_early),
            "reached_target": best["val_mse"] <= settings.target_val_mse,
            "device": str(device),
            "n_parameters": sum(p.numel() for p in model.parameters()),
        }
    }
    write_json(metrics_path, metrics)
    run.discard_resume()
    return metrics


def load_trained_prnn(
    path: str | os.PathLike[str], device: str | torch.device = "cpu"
) -> tuple[PRNN, PRNNTaskConfig, dict[str, Any]]:
    """Model (eval mode), task and the checkpoint's ``train``/``periods`` info."""
    payload = load_checkpoint(path, map_location=device)
    model = PRNN.from_checkpoint(payload).to(device)
    model.eval()
    info = {"train": payload["train"], "periods": payload["periods"]}
    return model, PRNNTaskConfig.from_params(payload["task_config"]), info


def train_prnn_stage(
    task_params: dict[str, Any],
    prnn_params: dict[str, Any],
    val_path: str,
    checkpoint_path: str,
    curve_path: str,
    metrics_path: str,
    resume_path: str | None = None,
    threads: int | None = None,
) -> dict[str, Any]:
    """Stage ``train_prnn``: ``rhythm.prnn.task`` and ``rhythm.prnn`` (its ``model`` and
    ``train`` sub-sections) plus the validation set in; checkpoint / curve / metrics out."""
    return train_prnn(
        PRNNTaskConfig.from_params(task_params),
        prnn_params["model"],
        prnn_params["train"],
        load_prnn_set(val_path),
        checkpoint_path=checkpoint_path,
        curve_path=curve_path,
        metrics_path=metrics_path,
        resume_path=resume_path,
        threads=threads,
    )
