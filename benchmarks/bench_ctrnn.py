"""Cost of one CTRNN training step: rnnlab vs the original per-step style vs the FLOP bound.

One *training step* = forward over the whole sequence + MSE loss + backward + Adam step.
For each case (ZRNN-, maturation- and Cue-Set-Go-shaped networks) one run reports, measured
side by side (project and baseline steps interleaved, median of ``repeats`` after warm-up):

1. ``project_s``: rnnlab's :class:`~rnnlab.models.ctrnn.CTRNN` (effective weights built once
   per call, the input drive of all steps in one GEMM with bias and noise as its addend,
   the noise drawn in parallel chunks (:mod:`rnnlab.models.noise`), the recurrence in the
   hand-written BPTT of :mod:`rnnlab.models.recurrence`, which stores only the rates (and,
   for softplus or post-noise, the states) for backward);
2. ``baseline_s``: :func:`original_style_forward`, the style of the original public
   implementations (rhythm.md §2, §13): a per-step Python loop under autograd that rebuilds
   the masked, Dale-constrained W_rec = |W̃ ⊙ M| · D at every step, projects the input and
   draws the noise step by step, and keeps the autograd graph of every step;
3. the FLOP bound: the step's matrix-multiply FLOPs (:func:`step_flops`) divided by the
   GEMM rate measured in the same run, right before the case: ``gemm_large`` is a square
   float32 GEMM (2048³, best of 3), ``gemm_small`` a GEMM of the step's own recurrent shape
   (B × N) · (N × N), best of 3. ``fraction_of_bound_*`` = bound time / project time;
4. peak memory: each (case, implementation) step runs again in a fresh subprocess of this
   script (hidden ``--measure-memory`` flag); after one warm-up step, ``malloc_trim`` and a
   reset of the kernel's RSS high-water mark (``/proc/self/clear_refs``), the peak is
   ``ru_maxrss`` after the step minus the RSS just before it. The same step also counts the
   bytes autograd keeps for backward (``saved_bytes``: distinct storages passed to the
   saved-tensor pack hook, parameters and buffers excluded) and, for the project, the
   analytic size of the recurrence's saved tensors (``(1 + keep_x) · T · B · N · 4`` bytes:
   the rates, plus the states for softplus/power or post-activation noise).

Ratios: ``project_over_baseline`` (< 1 is faster; ``speedup`` is its inverse) and
``project_over_bound_*`` (>= 1; ``fraction_of_bound_*`` is its inverse);
``baseline_over_bound_large`` is the speedup an implementation running at the large-GEMM
bound would have over the baseline (an upper limit on ``speedup`` for GEMM-bound shapes).
Both implementations run in one process under the glibc allocator settings that rnnlab
applies on first use of the recurrence (:func:`rnnlab.allocator.tune_malloc`, recorded as
``allocator``; ``RNNLAB_TUNE_MALLOC=0`` turns them off for both).
Absolute times drift with the machine (rhythm.md §17): compare ratios taken in one run.

``--device cuda`` runs the same comparison on a GPU: models, data and noise generators on the
device, every timed region closed by ``torch.cuda.synchronize()``, GEMM rates measured on the
device, peak memory from ``torch.cuda.max_memory_allocated`` in-process (instead of RSS), the
device name recorded, and the GPU goal case ``zrnn_paper_gpu`` (N 500, B 512, T 2000: the
paper-scale ZRNN step, goal <= 0.05 s on an H100) added. ``--matmul-precision high`` allows
TF32 tensor-core GEMMs (``torch.set_float32_matmul_precision``; recorded in the JSON) — a
precision change, so report it next to any GPU figure. CUDA graphs are not used yet.
Goals (issue 7, CPU): speedup >= 4 on ``zrnn_paper_T500`` and ``zrnn_default``, fraction
of the large-GEMM bound >= 0.5 (``goals`` in the JSON). The JSON records the thread count
and the OMP_/MKL_/MALLOC_ environment: on a shared, oversubscribed CPU, 2 OpenMP threads
with the default (spinning) wait policy can make the small per-step GEMMs ~40x slower;
``OMP_WAIT_POLICY=PASSIVE`` avoids that.

Cases (name: N, batch, T, activation):

- ``zrnn_paper_T500``: 500, 32, 500, relu: the paper's ZRNN (rhythm.md §2.2) on 0.5-s trials;
- ``zrnn_default``: 200, 32, 2000, relu: ``params.yaml`` rhythm.zrnn (laptop default);
- ``zrnn_N500_T2000``: 500, 32, 2000, relu: the paper's network on full 2-s trials;
- ``maturation``: 256, 64, 175, softplus: the leaky maturation core (dt 20 ms, τ 100 ms,
  15 inputs, 9 outputs, orthogonal init, autapses, no Dale), 3.5-s trials;
- ``csg``: 200, 16, 1200, tanh: Cue-Set-Go as in Wang et al. 2018 (200 units, dt 1 ms,
  τ 10 ms, nn4n noise, no Dale) at the project's training batch (16) and the longest trial
  of the scaled-down task (≈ 1180 steps for an 800-ms interval).

ZRNN cases use rhythm-task batches (rhythm.md §3), the others uniform random inputs and
targets (the values do not change the cost of dense GEMMs). ``--quick`` runs every case at
tiny shapes (N 24, B 4, T 40) for tests. Run: ``python benchmarks/bench_ctrnn.py``
(``--out FILE`` also writes the JSON).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import datetime
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from rnnlab.allocator import tune_malloc
from rnnlab.models.ctrnn import CTRNN, CTRNNConfig
from rnnlab.models.recurrence import _DERIV_FROM_RATES
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
MATURATION_IO = (15, 9)  # rnnlab.tasks.maturation: 1 fixation + 8 ring + 6 rule inputs; 1 + 8 out
QUICK_SHAPE = (24, 4, 40)  # N, batch, T for --quick
ENV_PREFIXES = ("MALLOC_", "OMP_", "GOMP_", "MKL_", "KMP_")  # settings that change the timings
GOAL_SPEEDUP = 4.0
GOAL_FRACTION = 0.5
GOAL_CASES = ("zrnn_paper_T500", "zrnn_default")
GOAL_GPU_CASE = "zrnn_paper_gpu"
GOAL_GPU_SECONDS = 0.05  # per training step on an H100 (issue 7)


@dataclass(frozen=True)
class Case:
    name: str
    n_hidden: int
    batch: int
    steps: int
    activation: str
    kind: str  # zrnn | maturation | csg
    max_repeats: int | None = None  # cap for slow cases

    def quick(self) -> Case:
        n, b, t = QUICK_SHAPE
        return Case(self.name, n, b, t, self.activation, self.kind, None)


CASES = (
    Case("zrnn_paper_T500", 500, 32, 500, "relu", "zrnn"),
    Case("zrnn_default", 200, 32, 2000, "relu", "zrnn"),
    Case("zrnn_N500_T2000", 500, 32, 2000, "relu", "zrnn", max_repeats=3),
    Case("maturation", 256, 64, 175, "softplus", "maturation"),
    Case("csg", 200, 16, 1200, "tanh", "csg"),
)
# Paper-scale ZRNN training step (rhythm.md §2.2: N 500, batch 512, 2-s trials): GPU only
# (on a 2-core CPU one baseline step of it takes minutes).
GPU_CASES = (Case(GOAL_GPU_CASE, 500, 512, 2000, "relu", "zrnn", max_repeats=5),)


def synchronize(device: torch.device) -> None:
    """Wait for queued device work, so wall-clock timers measure it (no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def resolve_device(request: str) -> torch.device:
    """``cpu`` or ``cuda[:k]``; asking for CUDA without it is a clear error."""
    try:
        device = torch.device(request)
    except RuntimeError:
        device = None
    if device is None or device.type not in ("cpu", "cuda"):
        raise SystemExit(f"--device must be cpu or cuda[:index], got {request!r}")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"--device {request}: CUDA is not available on this machine")
    return device


# --- models and data ---------------------------------------------------------------------
def build_model(case: Case, seed: int = 0, device: torch.device | str = "cpu") -> CTRNN:
    """The case's network, initialised from ``seed`` on CPU, then moved to ``device``."""
    return _build_model_cpu(case, seed).to(device)


def _build_model_cpu(case: Case, seed: int) -> CTRNN:
    if case.kind == "zrnn":
        return build_zrnn({"n_hidden": case.n_hidden, **MODEL}, 0.001, seed=seed)
    if case.kind == "maturation":  # rnnlab.models.maturation.MaturationNet's leaky core
        n_in, n_out = MATURATION_IO
        cfg = CTRNNConfig(
            n_input=n_in,
            n_hidden=case.n_hidden,
            n_output=n_out,
            dt=0.02,
            tau=0.1,
            activation=case.activation,  # type: ignore[arg-type]
            autapses=True,
            sigma_rec=0.05,
            sigma_in=0.01 / 0.2,
            noise_scaling="song",
            noise_placement="pre",
            rec_init="orthogonal",
            rec_gain=0.5,
            in_init="normal",
            out_init="xavier",
        )
    elif case.kind == "csg":  # rnnlab.train.csg.build_csg_rnn, readout not zero-initialised
        cfg = CTRNNConfig(
            n_input=2,
            n_hidden=case.n_hidden,
            n_output=1,
            dt=0.001,
            tau=0.01,
            activation=case.activation,  # type: ignore[arg-type]
            autapses=True,
            sigma_rec=0.05,
            noise_scaling="nn4n",
            rec_init="normal",
            rec_gain=1.5,
            in_init="uniform",
            out_init="xavier",
        )
    else:
        raise ValueError(f"unknown case kind {case.kind!r}")
    return CTRNN(cfg, generator=torch.Generator().manual_seed(seed))


def build_data(case: Case, model: CTRNN, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs (B, T, I) and targets (B, T, O) for the case, drawn on CPU, on the model's device."""
    gen = torch.Generator().manual_seed(seed)
    device = model.w_rec.device
    if case.kind == "zrnn":
        duration = case.steps * 0.001
        task = RhythmTaskConfig(duration_s=duration, sync_window_s=duration / 2)
        inputs, target = sample_batch(task, case.batch, gen)
        return inputs.float().to(device), target.float().to(device)
    cfg = model.config
    inputs = torch.rand(case.batch, case.steps, cfg.n_input, generator=gen)
    target = torch.rand(case.batch, case.steps, cfg.n_output, generator=gen)
    return inputs.to(device), target.to(device)


def original_style_forward(
    model: CTRNN, inputs: torch.Tensor, gen: torch.Generator | None
) -> torch.Tensor:
    """The originals' loop: weights rebuilt and every term added inside the time loop.

    Same network as ``model(inputs, noise_generator=gen)`` (masks, Dale reparametrisation,
    x0, activation, Song/nn4n noise before or after the nonlinearity, rectified input noise
    in training mode), but per step: W_rec = |W̃ ⊙ M| · D rebuilt, u_t @ W_in^T projected,
    noise drawn, all under autograd. Noise draws differ in order from rnnlab's, so only the
    noise-free outputs agree.
    """
    cfg = model.config
    alpha = model.alpha
    batch, _, _ = inputs.shape
    x = model.x0.expand(batch, cfg.n_hidden)
    r = model.act(x)
    draw = gen is not None
    std_in = (2.0 * cfg.dt / float(min(torch.as_tensor(cfg.tau).reshape(-1)))) ** 0.5
    std_in *= cfg.sigma_in
    draw_in = draw and model.training and cfg.sigma_in > 0
    draw_rec = draw and cfg.sigma_rec > 0
    pre = cfg.noise_placement == "pre"
    std_rec = model._noise_std_inside() if pre else model._noise_std_post()
    outs = []
    for u_t in inputs.unbind(1):
        weights = model.effective_weights()  # per step, as the originals did
        if draw_in:
            u_t = u_t + torch.randn(u_t.shape, generator=gen, device=u_t.device) * std_in
            if cfg.input_rectify:
                u_t = torch.relu(u_t)
        h = u_t @ weights["in"].T + r @ weights["rec"].T + model.b_rec
        if draw_rec and pre:
            h = h + torch.randn(h.shape, generator=gen, device=h.device) * std_rec
        x = x + alpha * (-x + h)
        r = model.act(x)
        if draw_rec and not pre:
            r = r + torch.randn(r.shape, generator=gen, device=r.device) * std_rec
        outs.append(r @ weights["out"].T + model.b_out)
    return torch.stack(outs, dim=1)


# --- FLOPs and GEMM rates ----------------------------------------------------------------
def step_flops(n_hidden: int, batch: int, steps: int, n_input: int, n_output: int) -> int:
    """Matrix-multiply FLOPs of one training step (a multiply-add counts 2).

    Forward, per sequence: input projection 2·T·B·I·N, recurrence 2·T·B·N², readout
    2·T·B·N·O. Backward: the recurrence and the readout need both the gradient w.r.t. their
    left operand (adjoint / rates) and w.r.t. the weights, 2× their forward; the input
    projection only the weight gradient (inputs need no gradient), 1× its forward::

        FLOPs = 2·T·B·(3·N² + 2·N·I + 3·N·O)

    Element-wise work (activations, leak, noise, loss, Adam) is not counted.
    """
    t, b, n, i, o = steps, batch, n_hidden, n_input, n_output
    return 2 * t * b * (3 * n * n + 2 * n * i + 3 * n * o)


def gemm_rate(
    m: int,
    k: int,
    n: int,
    repeats: int = 3,
    min_time_s: float = 0.1,
    device: torch.device | str = "cpu",
) -> float:
    """Best-of-``repeats`` float32 FLOP/s of (m × k) · (k × n), each trial >= ``min_time_s``."""
    device = torch.device(device)
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(m, k, generator=gen).to(device)
    b = torch.randn(k, n, generator=gen).to(device)
    out = torch.empty(m, n, device=device)
    torch.mm(a, b, out=out)
    synchronize(device)
    iters = 1
    while True:
        start = time.perf_counter()
        for _ in range(iters):
            torch.mm(a, b, out=out)
        synchronize(device)
        elapsed = time.perf_counter() - start
        if elapsed >= min_time_s or iters >= 1 << 20:
            break
        iters *= 2
    best = elapsed / iters
    for _ in range(repeats - 1):
        start = time.perf_counter()
        for _ in range(iters):
            torch.mm(a, b, out=out)
        synchronize(device)
        best = min(best, (time.perf_counter() - start) / iters)
    return 2.0 * m * k * n / best


# --- one training step -------------------------------------------------------------------
class SavedBytes:
    """Saved-tensor pack hook counting distinct storages autograd keeps for backward."""

    def __init__(self, exclude: set[int]) -> None:
        self.exclude = exclude
        self.seen: set[int] = set()
        self.total = 0

    def pack(self, tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        ptr = storage.data_ptr()
        if ptr not in self.seen and ptr not in self.exclude:
            self.seen.add(ptr)
            self.total += storage.nbytes()
        return tensor

    @staticmethod
    def unpack(tensor: torch.Tensor) -> torch.Tensor:
        return tensor


def make_step(
    case: Case, impl: str, seed: int = 0, device: torch.device | str = "cpu"
) -> tuple[Callable[[SavedBytes | None], None], CTRNN]:
    """A training-step closure for ``impl`` in {"project", "baseline"} (own model and Adam)."""
    model = build_model(case, seed, device)
    inputs, target = build_data(case, model)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    noise = torch.Generator(device=torch.device(device)).manual_seed(seed + 2)

    def forward() -> torch.Tensor:
        if impl == "project":
            return model(inputs, noise_generator=noise)[0]
        if impl == "baseline":
            return original_style_forward(model, inputs, noise)
        raise ValueError(f"unknown implementation {impl!r}")

    def step(saved: SavedBytes | None = None) -> None:
        if saved is None:
            out = forward()
        else:
            with torch.autograd.graph.saved_tensors_hooks(saved.pack, saved.unpack):
                out = forward()
        loss = ((out - target) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step, model


def project_saved_bytes_analytic(case: Case, post_noise: bool = False) -> int:
    """Bytes of the recurrence's saved tensors: rates, plus states where f' needs x."""
    keep_x = post_noise or case.activation not in _DERIV_FROM_RATES
    return (1 + int(keep_x)) * case.steps * case.batch * case.n_hidden * 4


# --- memory (run in a fresh subprocess) --------------------------------------------------
def _rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _reset_peak_rss() -> bool:
    """Reset the kernel's RSS high-water mark (ru_maxrss) to the current RSS (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _malloc_trim() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def measure_memory_cuda(case: Case, impl: str, device: torch.device) -> dict:
    """Peak device-memory increase of one steady-state step and the bytes saved for backward."""
    step, model = make_step(case, impl, device=device)
    step(None)  # warm-up: Adam state, lazy allocations, cuBLAS workspace
    exclude = {t.untyped_storage().data_ptr() for t in model.parameters()}
    exclude |= {t.untyped_storage().data_ptr() for t in model.buffers()}
    saved = SavedBytes(exclude)
    gc.collect()
    synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    step(saved)
    synchronize(device)
    peak = torch.cuda.max_memory_allocated(device)
    del step, model
    gc.collect()
    torch.cuda.empty_cache()
    return {
        "peak_rss_bytes": max(0, peak - before),
        "rss_before_bytes": before,
        "saved_bytes": saved.total,
        "method": "torch.cuda.max_memory_allocated after warm-up",
    }


def measure_memory(case: Case, impl: str, first_in_process: bool) -> dict:
    """Peak RSS increase of one steady-state step and the bytes saved for backward."""
    step, model = make_step(case, impl)
    can_reset = _reset_peak_rss()
    if can_reset:
        step(None)  # warm-up: Adam state, lazy allocations
    elif not first_in_process:
        return {"peak_rss_bytes": None, "saved_bytes": None, "method": "unavailable"}
    exclude = {t.untyped_storage().data_ptr() for t in model.parameters()}
    exclude |= {t.untyped_storage().data_ptr() for t in model.buffers()}
    saved = SavedBytes(exclude)
    gc.collect()
    _malloc_trim()
    if can_reset:
        _reset_peak_rss()
    before = _rss_bytes()
    step(saved)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    return {
        "peak_rss_bytes": max(0, peak - before),
        "rss_before_bytes": before,
        "saved_bytes": saved.total,
        "method": "clear_refs+warmup" if can_reset else "fresh process, no warm-up",
    }


def memory_in_subprocess(pairs: list[tuple[str, str]], args: argparse.Namespace) -> dict:
    """Run ``--measure-memory`` for ``pairs`` in one fresh interpreter; {(case, impl): row}."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--threads", str(args.threads)]
    if args.quick:
        cmd.append("--quick")
    cmd += ["--measure-memory", ",".join(f"{c}:{i}" for c, i in pairs)]
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        err = proc.stderr.strip().splitlines()[-1:] or ["?"]
        return {p: {"peak_rss_bytes": None, "saved_bytes": None, "error": err[0]} for p in pairs}
    rows = json.loads(proc.stdout)
    return {(r["case"], r["impl"]): r for r in rows}


# --- timing ------------------------------------------------------------------------------
def time_case(case: Case, repeats: int, warmup: int, device: torch.device | str = "cpu") -> dict:
    """Step times of project and baseline, interleaved (warm-up steps first)."""
    device = torch.device(device)
    steps = {impl: make_step(case, impl, device=device)[0] for impl in ("project", "baseline")}
    for _ in range(warmup):
        for step in steps.values():
            step(None)
    times: dict[str, list[float]] = {impl: [] for impl in steps}
    for _ in range(repeats):
        for impl, step in steps.items():
            synchronize(device)
            start = time.perf_counter()
            step(None)
            synchronize(device)
            times[impl].append(time.perf_counter() - start)
    return {impl: ts for impl, ts in times.items()}


def run_case(case: Case, args: argparse.Namespace, memory: dict) -> dict:
    model = build_model(case)
    n_in, n_out = model.config.n_input, model.config.n_output
    repeats = args.repeats if case.max_repeats is None else min(args.repeats, case.max_repeats)
    big = args.gemm_size
    rate_large = gemm_rate(big, big, big, device=args.device)
    rate_small = gemm_rate(case.batch, case.n_hidden, case.n_hidden, device=args.device)
    times = time_case(case, repeats, args.warmup, args.device)
    t_proj = statistics.median(times["project"])
    t_base = statistics.median(times["baseline"])
    flops = step_flops(case.n_hidden, case.batch, case.steps, n_in, n_out)
    bound_large = flops / rate_large
    bound_small = flops / rate_small
    mem_p = memory.get((case.name, "project"), {})
    mem_b = memory.get((case.name, "baseline"), {})
    return {
        **asdict(case),
        "n_input": n_in,
        "n_output": n_out,
        "repeats": repeats,
        "project_s": t_proj,
        "baseline_s": t_base,
        "project_times_s": times["project"],
        "baseline_times_s": times["baseline"],
        "project_over_baseline": t_proj / t_base,
        "speedup": t_base / t_proj,
        "flops": flops,
        "gemm_large_flops_per_s": rate_large,
        "gemm_small_flops_per_s": rate_small,
        "project_flops_per_s": flops / t_proj,
        "bound_large_s": bound_large,
        "bound_small_s": bound_small,
        "project_over_bound_large": t_proj / bound_large,
        "project_over_bound_small": t_proj / bound_small,
        "fraction_of_bound_large": bound_large / t_proj,
        "fraction_of_bound_small": bound_small / t_proj,
        "baseline_over_bound_large": t_base / bound_large,  # best speedup possible at the bound
        "peak_rss_project_bytes": mem_p.get("peak_rss_bytes"),
        "peak_rss_baseline_bytes": mem_b.get("peak_rss_bytes"),
        "saved_bytes_project": mem_p.get("saved_bytes"),
        "saved_bytes_baseline": mem_b.get("saved_bytes"),
        "recurrence_saved_bytes_analytic": project_saved_bytes_analytic(case),
        "memory_method": mem_p.get("method") or mem_p.get("error"),
    }


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def goals(rows: list[dict], quick: bool, device: torch.device | None = None) -> dict:
    """Issue 7's goals per goal case; not evaluated at the tiny ``--quick`` shapes.

    CPU: speedup and fraction of the large-GEMM bound for ``GOAL_CASES``. CUDA: the
    paper-scale step time of ``GOAL_GPU_CASE`` (the goal is stated for an H100).
    """
    if quick:
        return {"evaluated": False, "reason": "--quick uses tiny shapes, not the goal shapes"}
    out: dict = {"evaluated": True}
    if device is not None and device.type == "cuda":
        for row in rows:
            if row["name"] == GOAL_GPU_CASE:
                out[row["name"]] = {
                    "device": torch.cuda.get_device_name(device),
                    "project_s": row["project_s"],
                    "step_le_0.05_s": row["project_s"] <= GOAL_GPU_SECONDS,
                }
        return out
    for row in rows:
        if row["name"] in GOAL_CASES:
            out[row["name"]] = {
                "speedup_ge_4": row["speedup"] >= GOAL_SPEEDUP,
                "fraction_of_bound_large_ge_0.5": row["fraction_of_bound_large"] >= GOAL_FRACTION,
            }
    return out


def all_cases(quick: bool) -> list[Case]:
    """Every known case (the GPU-scale one included), at tiny shapes with ``quick``."""
    return [c.quick() if quick else c for c in (*CASES, *GPU_CASES)]


def selected_cases(args: argparse.Namespace) -> list[Case]:
    """``--cases`` if given; otherwise CASES, plus GPU_CASES on a CUDA device."""
    known = all_cases(args.quick)
    if args.cases:
        wanted = set(args.cases.split(","))
        unknown = wanted - {c.name for c in known}
        if unknown:
            names = [c.name for c in known]
            raise SystemExit(f"unknown case(s) {sorted(unknown)}; one of {names}")
        return [c for c in known if c.name in wanted]
    default = {c.name for c in CASES}
    if args.device.type == "cuda":
        default |= {c.name for c in GPU_CASES}
    return [c for c in known if c.name in default]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="tiny shapes (tests)")
    parser.add_argument("--cases", default="", help="comma-separated subset of case names")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory subprocesses")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda[:index]")
    parser.add_argument(
        "--matmul-precision",
        choices=("highest", "high", "medium"),
        default="highest",
        help="torch.set_float32_matmul_precision: 'high' allows TF32 on CUDA (less precise)",
    )
    parser.add_argument("--gemm-size", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--measure-memory", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.device = resolve_device(args.device)
    torch.set_num_threads(args.threads)
    torch.set_float32_matmul_precision(args.matmul_precision)
    # the allocator settings rnnlab's recurrence applies on first use, applied up front so
    # that the baseline runs under the same allocator (it gains from them too)
    allocator = tune_malloc()
    if args.gemm_size is None:
        args.gemm_size = 256 if args.quick else 2048
    if args.quick:
        args.repeats = min(args.repeats, 2)
    cases = selected_cases(args)
    by_name = {c.name: c for c in all_cases(args.quick)}

    if args.measure_memory is not None:  # child process: measure and print rows
        rows = []
        for k, pair in enumerate(args.measure_memory.split(",")):
            name, impl = pair.split(":")
            row = measure_memory(by_name[name], impl, first_in_process=k == 0)
            rows.append({"case": name, "impl": impl, **row})
        print(json.dumps(rows))
        return

    memory: dict = {}
    if not args.no_memory and args.device.type == "cuda":  # in-process: device counters
        for case in cases:
            for impl in ("project", "baseline"):
                memory[(case.name, impl)] = measure_memory_cuda(case, impl, args.device)
    elif not args.no_memory:
        pairs = [(c.name, impl) for c in cases for impl in ("project", "baseline")]
        # quick: one interpreter for all (RSS high-water mark reset between measurements);
        # full size: a fresh interpreter per measurement, so no allocator state carries over
        groups = [pairs] if args.quick else [[p] for p in pairs]
        for group in groups:
            memory.update(memory_in_subprocess(group, args))

    rows = [run_case(case, args, memory) for case in cases]
    report = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "device": str(args.device),
        "device_name": (
            torch.cuda.get_device_name(args.device) if args.device.type == "cuda" else cpu_model()
        ),
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
        "threads": torch.get_num_threads(),
        "quick": args.quick,
        "repeats": args.repeats,
        "warmup": args.warmup,
        "gemm_large_size": args.gemm_size,
        "env": {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIXES)},
        "allocator": allocator,
        "flop_formula": "2*T*B*(3*N^2 + 2*N*I + 3*N*O)",
        "cases": rows,
        "goals": goals(rows, args.quick, args.device),
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
