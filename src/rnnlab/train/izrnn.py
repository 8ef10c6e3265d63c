"""IZRNN assembly and optional joint fine-tuning (stage ``izrnn_compose``).

The original trains the PRNN and the ZRNN separately and only wires them at test time. This
stage writes one IZRNN checkpoint (both networks, the wiring, the time grids). With
``finetune.steps > 0`` it first trains the wired model end to end on synchronisation-
continuation trials: the ZRNN output is scored against the raised-cosine target over the
whole trial (continuation included), the gradient flows through the cue into the PRNN unless
``freeze_prnn``. Same guarded step, SIGTERM handling and resume file as every trainer here.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from rnnlab.io import load_checkpoint, save_checkpoint, write_csv, write_json
from rnnlab.models.ctrnn import CTRNN
from rnnlab.models.izrnn import IZRNN, CueWiring
from rnnlab.models.prnn import PRNN
from rnnlab.tasks.izrnn import izrnn_pulse_trains, izrnn_zrnn_task, step_ratio
from rnnlab.tasks.prnn import PRNNTaskConfig
from rnnlab.tasks.rhythm import RhythmTaskConfig, build_trials
from rnnlab.train.common import (
    TrainingInterrupted,
    guarded_step,
    load_resume,
    restore_generator,
    run_fingerprint,
    save_resume,
    stop_requests,
)
from rnnlab.train.device import pick_device
from rnnlab.train.prnn import load_trained_prnn
from rnnlab.train.zrnn import load_trained_zrnn, train_zrnn_stage

log = logging.getLogger(__name__)
CURVE_COLUMNS = ["step", "loss", "seconds"]
FINETUNE_KEYS = (
    "steps", "seed", "batch_size", "lr", "grad_clip_norm", "freeze_prnn", "duration_s",
    "sync_s", "device",
)  # fmt: skip


def clip_range(
    wiring: CueWiring, prnn_info: dict[str, Any], zrnn_task: RhythmTaskConfig
) -> tuple[float, float] | None:
    """The period range P̂ is clipped to: the PRNN's or the ZRNN's training periods."""
    if wiring.clip_to == "prnn":
        train = np.asarray(prnn_info["periods"]["train"], dtype=np.float64)
        return float(train.min()), float(train.max())
    if wiring.clip_to == "zrnn":
        return float(min(zrnn_task.periods_s)), float(max(zrnn_task.periods_s))
    return None


def assemble(
    prnn: PRNN,
    prnn_task: PRNNTaskConfig,
    prnn_info: dict[str, Any],
    zrnn: CTRNN,
    zrnn_task: RhythmTaskConfig,
    wiring: CueWiring,
) -> IZRNN:
    """Wire trained PRNN and ZRNN into one IZRNN."""
    wiring = wiring.effective()
    return IZRNN(
        prnn,
        zrnn,
        wiring,
        ratio=step_ratio(prnn_task, zrnn_task),
        prnn_dt_s=prnn_task.dt_s,
        cue_scale=zrnn_task.cue_scale,
        clip_range_s=clip_range(wiring, prnn_info, zrnn_task),
    )


def _finetune_batch(
    model: IZRNN,
    prnn_task: PRNNTaskConfig,
    zrnn_task: RhythmTaskConfig,
    settings: dict[str, Any],
    rng: np.random.Generator,
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Trials at the ZRNN's trained periods, random onsets; target over the whole trial."""
    periods = rng.choice(np.asarray(zrnn_task.periods_s), size=int(settings["batch_size"]))
    onsets = rng.uniform(zrnn_task.onset_min_s, zrnn_task.onset_max_s, size=periods.size)
    trains = izrnn_pulse_trains(
        prnn_task, zrnn_task, periods, onsets, float(settings["duration_s"]),
        float(settings["sync_s"]),
    )  # fmt: skip
    n_steps = trains["zrnn_pulses"].shape[1]
    _, target = build_trials(
        zrnn_task, torch.as_tensor(periods), torch.as_tensor(onsets), n_steps=n_steps,
        with_pulses=False,
    )  # fmt: skip
    return trains, target[..., 0]


def finetune(
    model: IZRNN,
    prnn_task: PRNNTaskConfig,
    zrnn_task: RhythmTaskConfig,
    settings: dict[str, Any],
    resume_path: str,
) -> list[dict[str, Any]]:
    """Joint fine-tuning; returns the loss curve. Resumes from ``resume_path`` when it fits."""
    steps = int(settings["steps"])
    if steps == 0:
        return []
    device = next(model.parameters()).device
    if settings["freeze_prnn"]:
        model.prnn.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.Adam(params, lr=float(settings["lr"]))
    rng = np.random.default_rng(int(settings["seed"]))
    noise = torch.Generator(device=device).manual_seed(int(settings["seed"]) + 1)
    # ``steps`` is left out so a longer run continues a shorter one
    fingerprint = run_fingerprint(
        {k: v for k, v in settings.items() if k != "steps"}, model.wiring.to_dict()
    )
    curve: list[dict[str, Any]] = []
    done = 0
    state = load_resume(resume_path, fingerprint, map_location=device, other_params="keep")
    if state is not None and int(state["step"]) <= steps:
        model.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        rng.bit_generator.state = state["numpy_rng"]
        restore_generator(noise, state["noise_rng"])
        curve, done = list(state["curve"]), int(state["step"])
        log.info("resuming joint fine-tuning at step %d", done)

    def save_state(step: int) -> None:
        save_resume(
            resume_path,
            fingerprint,
            {
                "model": model.state_dict(),
                "optimiser": optimiser.state_dict(),
                "numpy_rng": rng.bit_generator.state,
                "noise_rng": noise.get_state(),
                "curve": curve,
                "step": step,
            },
        )

    model.train()
    model.prnn.train(not settings["freeze_prnn"])
    start = time.perf_counter()
    with stop_requests() as stop:
        for step in tqdm(range(done, steps), desc="IZRNN fine-tune", disable=None):
            trains, target = _finetune_batch(model, prnn_task, zrnn_task, settings, rng)
            out = model(
                trains["prnn_pulses"].to(device), trains["zrnn_pulses"].to(device),
                noise_generator=noise,
            )  # fmt: skip
            loss = torch.mean((out["output"] - target.to(device)) ** 2)
            value = guarded_step(
                model, optimiser, loss, step=step, resume=resume_path,
                grad_clip_norm=float(settings["grad_clip_norm"]),
            )  # fmt: skip
            curve.append({"step": step + 1, "loss": value, "seconds": time.perf_counter() - start})
            if stop["signal"]:
                save_state(step + 1)
                raise TrainingInterrupted(f"signal {stop['signal']} at step {step + 1}; rerun")
            if (step + 1) % 10 == 0 or step + 1 == steps:
                save_state(step + 1)
    model.eval()
    return curve


def train_izrnn_zrnn_stage(
    task_params: dict[str, Any],
    zrnn_params: dict[str, Any],
    retrain_params: dict[str, Any],
    val_path: str,
    checkpoint_path: str,
    curve_path: str,
    metrics_path: str,
    threads: int | None = None,
) -> dict[str, Any]:
    """Stage ``train_izrnn_zrnn``: the IZRNN's own ZRNN, trained exactly as ``train_zrnn``
    (``rhythm.zrnn``) on the tempos of ``rhythm.izrnn.zrnn_retrain`` (HA-141, rhythm.md §9)."""
    return train_zrnn_stage(
        izrnn_zrnn_task(task_params, retrain_params),
        zrnn_params,
        val_path=val_path,
        checkpoint_path=checkpoint_path,
        curve_path=curve_path,
        metrics_path=metrics_path,
        resume_path=str(Path(checkpoint_path).with_name("resume.pt")),
        threads=threads,
    )


def izrnn_compose_stage(
    wiring_params: dict[str, Any],
    finetune_params: dict[str, Any],
    prnn_checkpoint: str,
    zrnn_checkpoint: str,
    checkpoint_path: str,
    curve_path: str,
    metrics_path: str,
    threads: int | None = None,
) -> dict[str, Any]:
    """Stage ``izrnn_compose``: ``rhythm.izrnn.wiring`` and ``rhythm.izrnn.finetune`` in; one
    IZRNN checkpoint, the fine-tuning curve and metrics out."""
    if threads:
        torch.set_num_threads(int(threads))
    missing = [k for k in FINETUNE_KEYS if k not in finetune_params]
    if missing:
        raise KeyError(f"rhythm.izrnn.finetune: missing key(s) {missing}")
    start = time.perf_counter()
    device = pick_device(finetune_params["device"])
    prnn, prnn_task, prnn_info = load_trained_prnn(prnn_checkpoint, device)
    zrnn, zrnn_task, _ = load_trained_zrnn(zrnn_checkpoint, device)
    wiring = CueWiring.from_params(wiring_params)
    model = assemble(prnn, prnn_task, prnn_info, zrnn, zrnn_task, wiring)
    resume = str(Path(checkpoint_path).with_name("resume.pt"))
    curve = finetune(model, prnn_task, zrnn_task, finetune_params, resume)
    save_checkpoint(checkpoint_path, izrnn_payload(model, prnn_task, prnn_info, zrnn_task))
    write_csv(curve_path, curve, CURVE_COLUMNS)
    metrics = {
        "finetune": {
            "steps": len(curve),
            "first_loss": curve[0]["loss"] if curve else None,
            "last_loss": curve[-1]["loss"] if curve else None,
            "freeze_prnn": bool(finetune_params["freeze_prnn"]),
        },
        "wiring": model.wiring.to_dict(),
        "clip_range_s": list(model.clip_range_s) if model.clip_range_s else None,
        "zrnn_periods_s": list(zrnn_task.periods_s),  # the tempos the wired ZRNN was trained on
        "seconds": time.perf_counter() - start,
    }
    write_json(metrics_path, metrics)
    if os.path.exists(resume):
        os.remove(resume)
    return metrics


def izrnn_payload(
    model: IZRNN, prnn_task: PRNNTaskConfig, prnn_info: dict[str, Any], zrnn_task: RhythmTaskConfig
) -> dict[str, Any]:
    """Everything needed to rebuild the IZRNN (tensors and plain data only)."""
    return {
        "prnn": dict(model.prnn.to_checkpoint(), task_config=prnn_task.to_dict(), **prnn_info),
        "zrnn": dict(model.zrnn.to_checkpoint(), task_config=zrnn_task.to_dict()),
        "wiring": model.wiring.to_dict(),
    }


def load_izrnn(
    path: str | os.PathLike[str], device: str | torch.device = "cpu"
) -> tuple[IZRNN, PRNNTaskConfig, RhythmTaskConfig]:
    """The IZRNN (eval mode) and both task configs from an ``izrnn_compose`` checkpoint."""
    payload = load_checkpoint(path, map_location=device)
    prnn = PRNN.from_checkpoint(payload["prnn"]).to(device)
    zrnn = CTRNN.from_checkpoint(payload["zrnn"]).to(device)
    prnn_task = PRNNTaskConfig.from_params(payload["prnn"]["task_config"])
    zrnn_task = RhythmTaskConfig.from_params(payload["zrnn"]["task_config"])
    info = {"train": payload["prnn"]["train"], "periods": payload["prnn"]["periods"]}
    model = assemble(prnn, prnn_task, info, zrnn, zrnn_task, CueWiring(**payload["wiring"]))
    model.eval()
    return model, prnn_task, zrnn_task
