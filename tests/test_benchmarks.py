"""The speed benchmark compares like with like: both formulations compute the same network."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_ctrnn import (  # noqa: E402
    CASES,
    MODEL,
    Case,
    build_data,
    build_model,
    original_style_forward,
    step_flops,
)

from rnnlab.models.zrnn import build_zrnn  # noqa: E402
from rnnlab.tasks.rhythm import RhythmTaskConfig, sample_batch  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny GEMMs on a shared, loaded CPU are far slower with 2 OpenMP threads than with 1."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_original_formulation_equals_rnnlab_forward_without_noise() -> None:
    task = RhythmTaskConfig(duration_s=0.2, sync_window_s=0.1)
    model = build_zrnn({"n_hidden": 30, **MODEL}, task.dt_s, seed=0).eval()
    with torch.no_grad():
        model.w_rec.mul_(20.0)  # make the recurrence matter
    inputs, _ = sample_batch(task, 3, torch.Generator().manual_seed(0))
    ours, _ = model(inputs)
    theirs = original_style_forward(model, inputs, None)
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-4)


def _grads(model: torch.nn.Module, out: torch.Tensor, target: torch.Tensor) -> dict:
    model.zero_grad(set_to_none=True)
    ((out - target) ** 2).mean().backward()
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize(
    ("kind", "activation", "learn_x0"),
    [
        ("zrnn", "relu", False),
        ("zrnn", "relu", True),
        ("maturation", "softplus", True),
        ("csg", "tanh", False),
        ("csg", "relu", True),
    ],
)
def test_gradients_equal_baseline_float64(kind: str, activation: str, learn_x0: bool) -> None:
    """Every parameter's gradient from rnnlab's BPTT equals the per-step autograd loop's."""
    case = Case("small", 30, 3, 50, activation, kind)
    model = build_model(case, seed=0).double()
    inputs, target = build_data(case, model, seed=1)
    inputs, target = inputs.double(), target.double()
    gen = torch.Generator().manual_seed(5)
    with torch.no_grad():
        if kind == "zrnn":
            model.w_rec.mul_(20.0)  # gain 0.1 at init: make the recurrence matter
        model.b_rec.copy_(0.3 * torch.randn(model.b_rec.shape, generator=gen))
        if learn_x0:
            model.x0.copy_(torch.randn(model.x0.shape, generator=gen))
    model.x0.requires_grad_(learn_x0)

    ours = _grads(model, model(inputs)[0], target)
    theirs = _grads(model, original_style_forward(model, inputs, None), target)

    assert set(ours) == set(theirs)
    assert ("x0" in ours) == learn_x0
    assert float(theirs["w_rec"].norm()) > 0
    for name, g_base in theirs.items():
        g_ours = ours[name]
        rel = float((g_ours - g_base).norm() / g_base.norm().clamp_min(1e-300))
        assert rel <= 1e-5, f"{name}: relative gradient difference {rel:.2e}"
        scale = float(g_base.abs().max())
        torch.testing.assert_close(g_ours, g_base, rtol=1e-5, atol=1e-5 * scale)


def test_step_flops_hand_computed() -> None:
    # T=2, B=3, N=4, I=1, O=1. Forward: input 2*2*3*1*4 = 48, recurrent 2*2*3*4*4 = 192,
    # readout 2*2*3*4*1 = 48. Backward: input weight grad only 48, recurrent 2*192 = 384,
    # readout 2*48 = 96. Total 816.
    assert step_flops(n_hidden=4, batch=3, steps=2, n_input=1, n_output=1) == 816
    assert step_flops(500, 32, 2000, 2, 1) == 2 * 2000 * 32 * (3 * 500**2 + 2 * 500 * 2 + 3 * 500)


ROW_KEYS = {
    "name",
    "n_hidden",
    "batch",
    "steps",
    "activation",
    "repeats",
    "project_s",
    "baseline_s",
    "project_over_baseline",
    "speedup",
    "flops",
    "gemm_large_flops_per_s",
    "gemm_small_flops_per_s",
    "bound_large_s",
    "bound_small_s",
    "project_over_bound_large",
    "project_over_bound_small",
    "fraction_of_bound_large",
    "fraction_of_bound_small",
    "peak_rss_project_bytes",
    "peak_rss_baseline_bytes",
    "saved_bytes_project",
    "saved_bytes_baseline",
    "recurrence_saved_bytes_analytic",
}


def test_quick_mode_runs_end_to_end(tmp_path) -> None:
    out = tmp_path / "bench.json"
    script = ROOT / "benchmarks" / "bench_ctrnn.py"
    cmd = [sys.executable, str(script), "--quick", "--threads", "1", "--repeats", "1"]
    proc = subprocess.run(
        [*cmd, "--out", str(out)], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert json.loads(out.read_text()) == report
    for key in ("date", "torch", "cpu", "threads", "flop_formula", "cases", "goals"):
        assert key in report
    assert report["threads"] == 1
    assert report["device"] == "cpu"
    assert report["float32_matmul_precision"] == "highest"
    assert [row["name"] for row in report["cases"]] == [c.name for c in CASES]
    for row in report["cases"]:
        assert set(row) >= ROW_KEYS
        for key in ("project_over_baseline", "speedup", "project_over_bound_large"):
            assert row[key] > 0
        assert row["fraction_of_bound_small"] > 0
        assert row["peak_rss_project_bytes"] >= 0
        assert row["peak_rss_baseline_bytes"] >= 0
        assert 0 < row["saved_bytes_project"] < row["saved_bytes_baseline"]


def test_device_flag_names_the_problem() -> None:
    """``--device`` accepts cpu/cuda only; CUDA on a machine without it is a clear error."""
    from bench_ctrnn import resolve_device

    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(SystemExit, match="cpu or cuda"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(SystemExit, match="CUDA is not available"):
            resolve_device("cuda")


def test_gpu_case_only_on_request_on_cpu_and_its_step_matches_the_baseline() -> None:
    """The paper-scale GPU case is left out of CPU runs by default, but its code path
    (quick shape) runs on CPU, and its noise-free step computes the baseline's numbers."""
    import argparse

    from bench_ctrnn import GOAL_GPU_CASE, GPU_CASES, selected_cases

    args = argparse.Namespace(quick=True, cases="", device=torch.device("cpu"))
    assert GOAL_GPU_CASE not in {c.name for c in selected_cases(args)}
    args.cases = GOAL_GPU_CASE
    (case,) = selected_cases(args)
    assert (case.n_hidden, case.batch, case.steps) == (24, 4, 40)
    assert (GPU_CASES[0].n_hidden, GPU_CASES[0].batch, GPU_CASES[0].steps) == (500, 512, 2000)
    model = build_model(case, seed=0, device="cpu").eval()
    inputs, _ = build_data(case, model)
    assert inputs.shape == (4, 40, model.config.n_input)
    torch.testing.assert_close(
        model(inputs)[0], original_style_forward(model, inputs, None), atol=1e-6, rtol=1e-5
    )
