"""Train the maturation network on the six oculomotor tasks (maturation.md §4).

One task per batch (uniform choice among the trained tasks), Adam, element-wise gradient
clip (clip-by-value, as the original), an evaluation every ``eval_every_trials`` trials
(including trial 0) on ``eval_trials`` noisy random-mode trials per task with the
last-step popvec criterion, a compact weights-only checkpoint at every evaluation, and a
stop once min perf over the trained tasks exceeds ``target_perf`` (or at ``max_trials``).

Checkpoints are written atomically into a work folder beside the outputs; a resume file
(weights, Adam, RNG states, the log) is rewritten at every evaluation and on SIGTERM, so a
rerun continues with identical numbers. On success the work folder becomes the declared
``checkpoints`` output.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rnnlab.io import load_checkpoint, save_checkpoint, write_csv, write_json
from rnnlab.models.maturation import MaturationNet, MaturationNetConfig, masked_lsq
from rnnlab.tasks.maturation import TASKS, correct_trials, make_batch
from rnnlab.train.common import (
    TrainingInterrupted,
    guarded_step,
    load_resume,
    progress_bar,
    restore_generator,
    run_fingerprint,
    save_resume,
    stop_requests,
)
from rnnlab.train.device import pick_device

log = logging.getLogger(__name__)


def checkpoint_name(trials: int) -> str:
    return f"ckpt_{int(trials):09d}.pt"


def build_net(model_params: dict[str, Any], seed: int) -> MaturationNet:
    """Network from the ``maturation.model`` params section."""
    return MaturationNet(MaturationNetConfig(**model_params), seed=seed)


def _clip_hooks(net: torch.nn.Module, clip: float) -> None:
    """Element-wise gradient clipping to [−clip, clip] (the original's clip-by-value)."""
    if clip <= 0:
        return
    for p in net.parameters():
        if p.requires_grad:
            p.register_hook(lambda g, c=clip: g.clamp(-c, c))


def to_tensors(batch: Any, device: torch.device) -> tuple[torch.Tensor, ...]:
    return tuple(
        torch.as_tensor(a, device=device) for a in (batch.inputs, batch.targets, batch.mask)
    )


@torch.no_grad()
def evaluate(
    net: MaturationNet,
    tasks: list[str],
    rng: np.random.Generator,
    noise_gen: torch.Generator,
    *,
    dt_ms: float,
    n_trials: int,
    odr_delay_ms: float,
    device: torch.device,
) -> dict[str, float]:
    """Cost and perf per task on ``n_trials`` random-mode trials, input and recurrent noise on."""
    was_training = net.training
    net.train()
    row: dict[str, float] = {}
    for task in tasks:
        b = make_batch(task, rng, dt_ms=dt_ms, batch_size=n_trials, odr_delay_ms=odr_delay_ms)
        x, y, m = to_tensors(b, device)
        out, _ = net(x, noise_generator=noise_gen)
        row[f"cost_{task}"] = float(masked_lsq(out, y, m))
        row[f"perf_{task}"] = float(correct_trials(out[:, -1].cpu().numpy(), b.target_angle).mean())
    net.train(was_training)
    perfs = [row[f"perf_{t}"] for t in tasks]
    row["perf_min"] = float(min(perfs))
    row["perf_avg"] = float(np.mean(perfs))
    return row


def train_maturation(
    task_params: dict[str, Any],
    model_params: dict[str, Any],
    train_params: dict[str, Any],
    *,
    checkpoints_dir: str | os.PathLike[str],
    log_csv_path: str | os.PathLike[str],
    metrics_path: str | os.PathLike[str],
    threads: int | None = None,
) -> dict[str, Any]:
    """Train; write the checkpoints folder, the log CSV and metrics JSON; return the metrics."""
    tp = train_params
    tasks = list(tp["tasks"])
    bad = [t for t in tasks if t not in TASKS]
    if bad or not tasks:
        raise ValueError(f"maturation.train.tasks: unknown or empty {bad or tasks}; use {TASKS}")
    batch_size = int(tp["batch_size"])
    eval_every = int(tp["eval_every_trials"])
    if eval_every % batch_size:
        raise ValueError(
            f"maturation.train.eval_every_trials ({eval_every}) must be a multiple of "
            f"batch_size ({batch_size})"
        )
    if threads:
        torch.set_num_threads(int(threads))
    device = pick_device(tp["device"])
    dt_ms = float(model_params["dt_ms"])
    odr_delay_ms = float(task_params["odr_delay_ms"])
    seed = int(tp["seed"])
    resumable = {k: v for k, v in tp.items() if k not in ("max_trials", "device")}
    fingerprint = run_fingerprint(task_params, model_params, resumable)

    out_dir = Path(checkpoints_dir)
    work = out_dir.with_name(f".{out_dir.name}.work")
    resume = out_dir.with_name("resume.pt")
    net = build_net(model_params, seed).to(device)
    _clip_hooks(net, float(tp["grad_clip_value"]))
    optimiser = torch.optim.Adam(net.parameters(), lr=float(tp["lr"]))
    data_rng = np.random.default_rng(seed + 1)
    eval_rng = np.random.default_rng(seed + 2)
    noise_gen = torch.Generator(device=device).manual_seed(seed + 3)
    eval_noise = torch.Generator(device=device).manual_seed(seed + 4)
    trials = 0
    rows: list[dict[str, float]] = []
    elapsed_before = 0.0
    state = load_resume(resume, fingerprint, map_location=device, other_params="delete")
    if state is not None:
        net.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        data_rng.bit_generator.state = json.loads(state["data_rng"])
        eval_rng.bit_generator.state = json.loads(state["eval_rng"])
        restore_generator(noise_gen, state["noise_gen"])
        restore_generator(eval_noise, state["eval_noise"])
        trials = int(state["trials"])
        rows = [dict(r) for r in state["rows"]]
        elapsed_before = float(state["seconds"])
        log.info("resumed at %d trials from %s", trials, resume)
    else:  # a fresh run: no checkpoints from an earlier one
        shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter() - elapsed_before

    def save_state() -> None:
        save_resume(
            resume,
            fingerprint,
            {
                "model": net.state_dict(),
                "optimiser": optimiser.state_dict(),
                "data_rng": json.dumps(data_rng.bit_generator.state),
                "eval_rng": json.dumps(eval_rng.bit_generator.state),
                "noise_gen": noise_gen.get_state(),
                "eval_noise": eval_noise.get_state(),
                "trials": trials,
                "rows": rows,
                "seconds": time.perf_counter() - start,
            },
        )

    def evaluation_point() -> dict[str, float]:
        row = evaluate(
            net,
            tasks,
            eval_rng,
            eval_noise,
            dt_ms=dt_ms,
            n_trials=int(tp["eval_trials"]),
            odr_delay_ms=odr_delay_ms,
            device=device,
        )
        row = {"trials": trials, "seconds": time.perf_counter() - start, **row}
        rows.append(row)
        payload = net.to_checkpoint()
        payload["trials"] = trials
        payload["perf"] = {t: row[f"perf_{t}"] for t in tasks}
        save_checkpoint(work / checkpoint_name(trials), payload)
        save_state()
        log.info(
            "trials %d perf %s (%.0f s)",
            trials,
            " ".join(f"{t}={row[f'perf_{t}']:.3f}" for t in tasks),
            row["seconds"],
        )
        return row

    target = float(tp["target_perf"])
    max_trials = int(tp["max_trials"])
    if not rows:
        evaluation_point()
    done = rows[-1]["perf_min"] > target or trials >= max_trials
    net.train()
    with (
        stop_requests() as stop,
        progress_bar(max_trials, trials, "train maturation", leave=True) as progress,
    ):
        while not done:
            task = tasks[int(data_rng.integers(len(tasks)))]
            b = make_batch(
                task, data_rng, dt_ms=dt_ms, batch_size=batch_size, odr_delay_ms=odr_delay_ms
            )
            x, y, m = to_tensors(b, device)
            out, _ = net(x, noise_generator=noise_gen)
            guarded_step(
                net,
                optimiser,
                masked_lsq(out, y, m),
                step=trials // batch_size,
                resume=resume,
                grad_clip_norm=0.0,
            )
            trials += batch_size
            progress.update(batch_size)
            if trials % eval_every == 0 or trials >= max_trials:
                row = evaluation_point()
                progress.set_postfix(perf_min=f"{row['perf_min']:.3f}")
                done = row["perf_min"] > target or trials >= max_trials
            if stop["signal"] and not done:
                save_state()
                raise TrainingInterrupted(
                    f"signal {stop['signal']} at {trials} trials: state saved to {resume}; "
                    "rerun to resume"
                )
    seconds = time.perf_counter() - start
    columns = ["trials", "seconds"]
    columns += [f"{k}_{t}" for t in tasks for k in ("cost", "perf")] + ["perf_min", "perf_avg"]
    write_csv(log_csv_path, rows, columns)
    final = rows[-1]
    metrics = {
        "final": {
            "perf_min": final["perf_min"],
            "perf_avg": final["perf_avg"],
            "trials": int(final["trials"]),
            "perf": {t: final[f"perf_{t}"] for t in tasks},
        },
        "train": {
            "seconds": seconds,
            "reached_target": bool(final["perf_min"] > target),
            "target_perf": target,
            "checkpoints": len(rows),
            "n_hidden": int(model_params["n_hidden"]),
            "dt_ms": dt_ms,
            "device": str(device),
            "threads": int(torch.get_num_threads()),
        },
        "trials_to_perf_0.95": {
            t: next((int(r["trials"]) for r in rows if r[f"perf_{t}"] > 0.95), None) for t in tasks
        },
    }
    if out_dir.exists():
        shutil.rmtree(out_dir)
    os.replace(work, out_dir)
    write_json(metrics_path, metrics)
    resume.unlink(missing_ok=True)
    return metrics


def load_net(path: str | os.PathLike[str]) -> tuple[MaturationNet, dict[str, Any]]:
    """A checkpoint's network (eval mode) and its payload (trials, perf)."""
    payload = load_checkpoint(path)
    net = MaturationNet.from_checkpoint(payload)
    net.eval()
    return net, payload


def list_checkpoints(checkpoints_dir: str | os.PathLike[str]) -> list[Path]:
    """Checkpoint files in trial order."""
    return sorted(Path(checkpoints_dir).glob("ckpt_*.pt"))
