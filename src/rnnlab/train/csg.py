"""Train tanh rate RNNs on Cue-Set-Go (Wang et al. 2018 spec; reference condense.md §1.1).

Network (on the shared :class:`~rnnlab.models.ctrnn.CTRNN` core): tanh units, τ = 10 ms,
dt = 1 ms, J_ij ~ N(0, g²/N) (autapses allowed, as in the paper's full Gaussian J), input
weights ~ U(−in_scale, in_scale), readout initialised to zero, recurrent white noise of
s.d. ``sigma_rec`` inside the bracket (``noise_scaling="nn4n"``: per step α·σ).

Optimiser: **Adam with gradient-norm clipping**, not the Hessian-free optimiser the paper
era used (condense.md §5 optimiser note); a fresh seeded batch per step, masked MSE on the
ramp target. Every ``val_every`` steps the noise-free timing error on the trained intervals
(``val_mare``, no-cross = 100 %) and the masked MSE on a fixed validation batch are taken;
the best checkpoint is the lowest ``val_mare`` (ties by MSE) and training stops once
``val_mare <= target_val_mare``. A resume file (weights, Adam, both RNG states, the curve)
is written atomically at every validation point and on SIGTERM/SIGINT, so rerunning the
rule continues with identical numbers.

:func:`fine_tune` is the same step loop without checkpoints, used by the reduction methods.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from rnnlab.io import load_checkpoint, save_checkpoint, write_csv, write_json
from rnnlab.models.ctrnn import CTRNN, CTRNNConfig
from rnnlab.models.losses import masked_mse
from rnnlab.params import section_values
from rnnlab.tasks.cue_set_go import (
    CSGBatch,
    CSGTaskConfig,
    eval_trials,
    produced_intervals_ms,
    sample_batch,
)
from rnnlab.train.common import (
    ResumableRun,
    guarded_step,
    progress_bar,
    run_fingerprint,
    stop_requests,
)

log = logging.getLogger(__name__)
CURVE_COLUMNS = ["step", "train_mse", "val_mse", "val_mare", "seconds"]


@dataclass(frozen=True)
class CSGModelSettings:
    """The ``condense.model`` params section (the network before training)."""

    n_hidden: int
    tau_ms: float
    rec_gain: float
    in_scale: float
    sigma_rec: float

    @classmethod
    def from_params(cls, section: dict[str, Any]) -> CSGModelSettings:
        return cls(**section_values(cls, section, "condense.model", strict=True))


@dataclass(frozen=True)
class CSGTrainSettings:
    """The ``condense.train`` params section."""

    seed: int
    batch_size: int
    lr: float
    max_steps: int
    grad_clip_norm: float
    val_every: int
    target_val_mare: float
    threads: int

    @classmethod
    def from_params(cls, section: dict[str, Any]) -> CSGTrainSettings:
        return cls(**section_values(cls, section, "condense.train", strict=True))


def build_csg_rnn(model: CSGModelSettings, dt_ms: float, seed: int) -> CTRNN:
    """A fresh Wang-style tanh CTRNN, all draws from a generator seeded with ``seed``."""
    cfg = CTRNNConfig(
        n_input=2,
        n_hidden=int(model.n_hidden),
        n_output=1,
        dt=dt_ms / 1000.0,
        tau=model.tau_ms / 1000.0,
        activation="tanh",
        autapses=True,  # full Gaussian J; merges also need the diagonal
        sigma_rec=model.sigma_rec,
        noise_scaling="nn4n",
        rec_init="normal",
        rec_gain=model.rec_gain,
        in_init="uniform",
        out_init="zero",
    )
    gen = torch.Generator().manual_seed(int(seed))
    net = CTRNN(cfg, generator=gen)
    with torch.no_grad():
        w_in = (torch.rand(net.w_in.shape, generator=gen) * 2 - 1) * model.in_scale
        net.w_in.copy_(w_in)
    return net


def ctrnn_like(model: CTRNN, weights: dict[str, np.ndarray]) -> CTRNN:
    """A CTRNN with ``model``'s settings and the given (possibly smaller) weights.

    ``weights`` holds ``rec`` (M, M), ``in`` (M, 2), ``b_rec`` (M,), ``out`` (1, M),
    ``b_out`` (1,); the width M may differ from the model's.
    """
    cfg_dict = model.config.to_dict()
    m = int(np.asarray(weights["rec"]).shape[0])
    cfg_dict["n_hidden"] = m
    if np.ndim(cfg_dict["tau"]) > 0:
        raise ValueError("ctrnn_like: per-unit tau is not supported here")
    net = CTRNN(CTRNNConfig(**cfg_dict))
    with torch.no_grad():
        net.w_rec.copy_(torch.as_tensor(np.asarray(weights["rec"]), dtype=torch.float32))
        net.w_in.copy_(torch.as_tensor(np.asarray(weights["in"]), dtype=torch.float32))
        net.b_rec.copy_(torch.as_tensor(np.asarray(weights["b_rec"]), dtype=torch.float32))
        net.w_out.copy_(torch.as_tensor(np.asarray(weights["out"]), dtype=torch.float32))
        net.b_out.copy_(torch.as_tensor(np.asarray(weights["b_out"]), dtype=torch.float32))
    return net


def weights_of(model: CTRNN) -> dict[str, np.ndarray]:
    """Effective weights as float64 arrays (the form the reduction methods work on)."""
    with torch.no_grad():
        w = model.effective_weights()
        return {
            "rec": w["rec"].double().numpy().copy(),
            "in": w["in"].double().numpy().copy(),
            "b_rec": model.b_rec.detach().double().numpy().copy(),
            "out": w["out"].double().numpy().copy(),
            "b_out": model.b_out.detach().double().numpy().copy(),
        }


@torch.no_grad()
def run_trials(
    model: CTRNN, batch: CSGBatch, noise_seed: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Outputs (B, T) and rates (B, T, N) as float64; noise only with ``noise_seed``."""
    was = model.training
    model.eval()
    gen = None if noise_seed is None else torch.Generator().manual_seed(int(noise_seed))
    out, rates = model(batch.inputs, noise_generator=gen)
    model.train(was)
    return out[..., 0].double().numpy(), rates.double().numpy()


def timing_error(model: CTRNN, task: CSGTaskConfig, intervals_ms: np.ndarray) -> float:
    """Noise-free mean absolute relative interval error; a no-cross trial counts 100 %."""
    batch = eval_trials(task, intervals_ms)
    out, _ = run_trials(model, batch)
    tp = produced_intervals_ms(out, batch.set_step, task.threshold, task.dt_ms)
    rel = np.abs(tp - batch.interval_ms) / batch.interval_ms
    return float(np.mean(np.where(np.isfinite(rel), np.minimum(rel, 1.0), 1.0)))


def _loss(model: CTRNN, batch: CSGBatch, noise_gen: torch.Generator | None) -> torch.Tensor:
    out, _ = model(batch.inputs, noise_generator=noise_gen)
    return masked_mse(out, batch.target, batch.mask, mode="song")


def fine_tune(
    model: CTRNN,
    task: CSGTaskConfig,
    *,
    steps: int,
    batch_size: int,
    lr: float,
    grad_clip_norm: float,
    seed: int,
    val_every: int = 0,
) -> dict[str, Any]:
    """``steps`` Adam steps in memory (no checkpoints), used after a reduction.

    With ``val_every > 0`` the noise-free timing error on the trained intervals is taken
    before training and every ``val_every`` steps, and the model ends in the best state
    seen (early stopping), so fine-tuning never leaves a network worse than it found it.
    Deterministic given ``seed``. Parameters whose ``rec_plasticity`` mask is 0 stay frozen
    (e.g. a rank-truncated W_rec). Returns the losses and the chosen step.
    """
    losses: list[float] = []
    train_iv = np.asarray(task.train_intervals_ms, dtype=np.float64)
    best = {"error": float("inf"), "step": 0, "state": None}

    def checkpoint(k: int) -> None:
        err = timing_error(model, task, train_iv)
        if err < best["error"]:
            best.update(
                error=err,
                step=k,
                state={n: v.detach().clone() for n, v in model.state_dict().items()},
            )

    if val_every > 0:
        checkpoint(0)
    if steps > 0:
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.Adam(params, lr=lr)
        data_gen = torch.Generator().manual_seed(int(seed))
        noise_gen = torch.Generator().manual_seed(int(seed) + 1)
        model.train()
        for k in range(steps):
            batch = sample_batch(task, batch_size, data_gen)
            loss = _loss(model, batch, noise_gen)
            losses.append(
                guarded_step(
                    model,
                    opt,
                    loss,
                    step=k,
                    resume="(in memory: fine-tuning keeps no file)",
                    grad_clip_norm=grad_clip_norm,
                    after_step=model.project_,
                )
            )
            if val_every > 0 and ((k + 1) % val_every == 0 or k + 1 == steps):
                checkpoint(k + 1)
    if best["state"] is not None:
        model.load_state_dict(best["state"])
    model.eval()
    return {"losses": losses, "best_step": best["step"] if val_every > 0 else steps}


def train_csg(
    task: CSGTaskConfig,
    model_settings: CSGModelSettings,
    settings: CSGTrainSettings,
    *,
    checkpoint_path: str | os.PathLike[str] | None = None,
    curve_path: str | os.PathLike[str] | None = None,
    resume_path: str | os.PathLike[str] | None = None,
    progress_desc: str = "train csg",
) -> tuple[CTRNN, dict[str, Any], list[dict[str, float]]]:
    """Train one network; return (best model, train metrics, curve rows).

    Writes the checkpoint and curve when paths are given; resumable through ``resume_path``.
    """
    if settings.threads:
        torch.set_num_threads(int(settings.threads))
    resumable = {k: v for k, v in vars(settings).items() if k not in ("max_steps", "threads")}
    fingerprint = run_fingerprint(task.to_dict(), vars(model_settings), resumable)
    model = build_csg_rnn(model_settings, task.dt_ms, settings.seed)
    optimiser = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=settings.lr)
    data_gen = torch.Generator().manual_seed(settings.seed + 1)
    noise_gen = torch.Generator().manual_seed(settings.seed + 2)
    val_gen = torch.Generator().manual_seed(settings.seed + 3)
    val_batch = sample_batch(task, max(8, settings.batch_size), val_gen)
    train_iv = np.asarray(task.train_intervals_ms, dtype=np.float64)

    rngs = {"data_gen": data_gen, "noise_gen": noise_gen}
    run = ResumableRun(resume_path, fingerprint, model, optimiser, rngs, ("val_mare", "val_mse"))
    run.restore()
    stopped_early = bool(run.curve) and run.curve[-1]["val_mare"] <= settings.target_val_mare
    model.train()
    with (
        stop_requests() as stop,
        progress_bar(settings.max_steps, run.step, progress_desc) as progress,
    ):
        while run.step < settings.max_steps and not stopped_early:
            batch = sample_batch(task, settings.batch_size, data_gen)
            loss = _loss(model, batch, noise_gen)
            run.window.append(
                guarded_step(
                    model,
                    optimiser,
                    loss,
                    step=run.step,
                    resume=run.resume,
                    grad_clip_norm=settings.grad_clip_norm,
                    after_step=model.project_,
                )
            )
            run.step += 1
            progress.update(1)
            if run.step % settings.val_every == 0 or run.step == settings.max_steps:
                with torch.no_grad():
                    model.eval()
                    val_mse = float(_loss(model, val_batch, None))
                    model.train()
                mare = timing_error(model, task, train_iv)
                row = {
                    "step": run.step,
                    "train_mse": float(np.mean(run.window)),
                    "val_mse": val_mse,
                    "val_mare": mare,
                    "seconds": run.elapsed(),
                }
                run.curve.append(row)
                run.window = []
                if (mare, val_mse) < (run.best["val_mare"], run.best["val_mse"]):
                    run.keep_best(run.step, val_mare=mare, val_mse=val_mse)
                stopped_early = mare <= settings.target_val_mare
                log.info(
                    "%s step %d train %.4f val_mse %.4f val_mare %.4f (%.0f s)",
                    progress_desc,
                    run.step,
                    row["train_mse"],
                    val_mse,
                    mare,
                    row["seconds"],
                )
                run.save()
            run.stop_if_requested(stop)
    seconds = run.elapsed()
    step, curve, best = run.step, run.curve, run.best
    if best["state_dict"] is None:  # max_steps == 0
        best = {
            "val_mare": timing_error(model, task, train_iv),
            "val_mse": float("inf"),
            "step": step,
            "state_dict": model.state_dict(),
        }
    model.load_state_dict(best["state_dict"])
    model.eval()
    train_metrics = {
        "best_val_mare": best["val_mare"],
        "best_val_mse": best["val_mse"],
        "best_step": best["step"],
        "steps": step,
        "seconds": seconds,
        "stopped_early": bool(stopped_early),
        "reached_target": bool(best["val_mare"] <= settings.target_val_mare),
        "optimiser": "Adam with gradient-norm clipping",
    }
    if checkpoint_path is not None:
        save_checkpoint(
            checkpoint_path,
            {
                "model_config": model.config.to_dict(),
                "state_dict": {k: v.cpu() for k, v in model.state_dict().items()},
                "task_config": task.to_dict(),
                "train": train_metrics,
            },
        )
    if curve_path is not None:
        write_csv(curve_path, curve, CURVE_COLUMNS)
    run.discard_resume()
    return model, train_metrics, curve


def load_trained_csg(path: str | os.PathLike[str]) -> tuple[CTRNN, CSGTaskConfig, dict[str, Any]]:
    """Model, task and training info from a checkpoint written by :func:`train_csg`."""
    payload = load_checkpoint(path)
    model = CTRNN.from_checkpoint(payload)
    model.eval()
    return model, CSGTaskConfig.from_params(payload["task_config"]), payload["train"]


def write_train_metrics(path: str | os.PathLike[str], metrics: dict[str, Any]) -> None:
    write_json(path, metrics)
