"""The speed benchmark compares like with like: both formulations compute the same network."""

from __future__ import annotations

import sys

import torch
from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_ctrnn import MODEL, original_style_forward  # noqa: E402

from rnnlab.models.zrnn import build_zrnn  # noqa: E402
from rnnlab.tasks.rhythm import RhythmTaskConfig, sample_batch  # noqa: E402


def test_original_formulation_equals_rnnlab_forward_without_noise() -> None:
    task = RhythmTaskConfig(duration_s=0.2, sync_window_s=0.1)
    model = build_zrnn({"n_hidden": 30, **MODEL}, task.dt_s, seed=0).eval()
    with torch.no_grad():
        model.w_rec.mul_(20.0)  # make the recurrence matter
    inputs, _ = sample_batch(task, 3, torch.Generator().manual_seed(0))
    ours, _ = model(inputs)
    theirs = original_style_forward(model, inputs, None)
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-4)
