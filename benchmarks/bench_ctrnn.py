"""Speed of one ZRNN training step: rnnlab's CTRNN vs the original's per-step formulation.

The original ZRNN (rhythm.md §2, §13) rebuilds |W|·D inside the time loop and adds input,
bias and noise step by step. rnnlab builds the effective weights once per call, precomputes
the input drive for all steps in one matmul, and fuses the update into addmm + lerp.
We report *ratios* (original / rnnlab) of forward+backward+Adam time, since absolute times
drift with the machine (rhythm.md §17). Run: ``python benchmarks/bench_ctrnn.py``.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from rnnlab.models.zrnn import build_zrnn
from rnnlab.tasks.rhythm import RhythmTaskConfig, sample_batch

MODEL = dict(
    tau_s=0.01,
    e_fraction=0.8,
    sigma_rec=0.01,
    sigma_in=0.01,
    rec_init_gain=0.1,
    frozen_zero_init=True,
)


def original_style_forward(
    model, inputs: torch.Tensor, gen: torch.Generator | None
) -> torch.Tensor:
    """The original's loop: weights rebuilt and every term added inside the time loop."""
    cfg = model.config
    alpha = cfg.dt / cfg.tau
    batch, steps, _ = inputs.shape
    x = torch.zeros(batch, cfg.n_hidden)
    noise_std = (2 * alpha) ** 0.5 * cfg.sigma_rec
    outs = []
    for t in range(steps):
        w_rec = (model.w_rec * model.rec_mask).abs() * model.signs.unsqueeze(0)  # per step
        r = torch.relu(x)
        x = x + alpha * (-x + inputs[:, t] @ model.w_in.T + r @ w_rec.T + model.b_rec)
        if gen is not None:
            x = x + torch.randn(batch, cfg.n_hidden, generator=gen) * noise_std
        outs.append(torch.relu(x) @ model.w_out.T + model.b_out)
    return torch.stack(outs, dim=1)


def time_steps(step_fn, repeats: int) -> float:
    step_fn()  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        step_fn()
    return (time.perf_counter() - start) / repeats


def bench(n_hidden: int, batch: int, duration_s: float, repeats: int) -> dict:
    task = RhythmTaskConfig(duration_s=duration_s, sync_window_s=duration_s / 2)
    model = build_zrnn({"n_hidden": n_hidden, **MODEL}, task.dt_s, seed=0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    data_gen = torch.Generator().manual_seed(1)
    inputs, target = sample_batch(task, batch, data_gen)

    def rnnlab_step() -> None:
        out, _ = model(inputs, noise_generator=torch.Generator().manual_seed(2))
        loss = ((out - target) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    def original_step() -> None:
        out = original_style_forward(model, inputs, torch.Generator().manual_seed(2))
        loss = ((out - target) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    t_new = time_steps(rnnlab_step, repeats)
    t_old = time_steps(original_step, repeats)
    return {
        "n_hidden": n_hidden,
        "batch": batch,
        "steps": task.n_steps,
        "speedup_vs_original": t_old / t_new,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--duration-s", type=float, default=0.5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = [
        bench(n, b, args.duration_s, args.repeats) for n, b in ((100, 32), (200, 32), (200, 64))
    ]
    print(json.dumps({"threads": torch.get_num_threads(), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
