"""Condense study stages on tiny shapes: trainer determinism and resume, stage outputs."""

from __future__ import annotations

import copy
import os
import signal

import numpy as np
import pytest
import torch
from conftest import ROOT, smoke_params

from rnnlab.analysis.condense_stage import (
    original_stage,
    reduce_stage,
    size_sweep_stage,
    train_stage,
)
from rnnlab.io import read_json
from rnnlab.tasks.cue_set_go import CSGTaskConfig
from rnnlab.train import csg as csg_mod
from rnnlab.train.common import TrainingInterrupted
from rnnlab.train.csg import CSGModelSettings, CSGTrainSettings, train_csg


def study_params() -> dict:
    import yaml

    from rnnlab.params import deep_merge

    p = smoke_params()
    if "condense" in p:
        return p["condense"]
    d = ROOT / "drafts" / "condense"
    base = yaml.safe_load((d / "params.yaml").read_text())
    return deep_merge(base, yaml.safe_load((d / "smoke.yaml").read_text()) or {})


def _settings(p: dict, **over) -> tuple[CSGTaskConfig, CSGModelSettings, CSGTrainSettings]:
    task = CSGTaskConfig.from_params(p["task"])
    model = CSGModelSettings.from_params(p["model"])
    train = CSGTrainSettings.from_params({**p["train"], **over})
    return task, model, train


def test_training_is_seeded_and_resumes_identically(tmp_path, monkeypatch) -> None:
    p = study_params()
    task, model, train = _settings(p, max_steps=4, val_every=2)
    net_a, _, curve_a = train_csg(task, model, train)
    net_b, _, _ = train_csg(task, model, train)
    for (k, va), vb in zip(net_a.state_dict().items(), net_b.state_dict().values(), strict=True):
        assert torch.equal(va, vb), k

    # interrupt with a real SIGTERM after step 2, then rerun: same numbers as uninterrupted
    real_step = csg_mod.guarded_step
    calls = {"n": 0}

    def step_then_term(*args, **kwargs):
        out = real_step(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 2:
            os.kill(os.getpid(), signal.SIGTERM)
        return out

    resume = tmp_path / "resume.pt"
    monkeypatch.setattr(csg_mod, "guarded_step", step_then_term)
    with pytest.raises(TrainingInterrupted):
        train_csg(task, model, train, resume_path=resume)
    assert resume.exists()
    monkeypatch.setattr(csg_mod, "guarded_step", real_step)
    net_c, metrics, curve_c = train_csg(task, model, train, resume_path=resume)
    assert not resume.exists() and metrics["steps"] == 4
    for va, vc in zip(net_a.state_dict().values(), net_c.state_dict().values(), strict=True):
        assert torch.equal(va, vc)
    assert [r["val_mse"] for r in curve_a] == [r["val_mse"] for r in curve_c]


def test_stages_write_contract_keys(tmp_path) -> None:
    p = study_params()
    ck = tmp_path / "csg" / "model.pt"
    m = train_stage(
        p["task"],
        p["model"],
        p["train"],
        p["evaluation"],
        checkpoint_path=str(ck),
        curve_path=str(tmp_path / "csg" / "loss_curve.csv"),
        metrics_path=str(tmp_path / "csg" / "metrics.json"),
    )
    assert {"train", "task_error", "trained", "interp", "extrap", "noisy_trained"} <= set(m)
    assert 0.0 <= m["task_error"] <= 1.0 and m["train"]["steps"] == p["train"]["max_steps"]
    orig = original_stage(
        p["evaluation"],
        p["battery"],
        checkpoint_path=str(ck),
        metrics_path=str(tmp_path / "original" / "metrics.json"),
        arrays_path=str(tmp_path / "original" / "arrays.npz"),
    )
    assert orig["solution_class"] in ("scaling", "ramp", "non-scaling", "failed")
    for method in ("ls_prune", "svd", "iterative_merge"):
        out = tmp_path / method
        r = reduce_stage(
            method,
            p["reduce"][method],
            p["finetune"],
            p["evaluation"],
            p["battery"],
            p["criterion"],
            checkpoint_path=str(ck),
            original_metrics_path=str(tmp_path / "original" / "metrics.json"),
            metrics_path=str(out / "metrics.json"),
            curve_path=str(out / "curve.csv"),
            arrays_path=str(out / "arrays.npz"),
        )
        on_disk = read_json(out / "metrics.json")
        assert "smallest_units_within_10pct" in on_disk and "still_scales" in on_disk
        assert isinstance(r["still_scales"], bool)
        assert r["threshold_error"] == pytest.approx(
            (1 + p["criterion"]["rel_tol"]) * r["original_task_error"] + p["criterion"]["abs_tol"]
        )
        s = r["smallest_units_within_10pct"]
        assert s is None or s >= 1
    with np.load(tmp_path / "svd" / "arrays.npz") as z:
        assert set(p["reduce"]["svd"]["ranks"]) == set(z["curve_size"].tolist())
    sweep = size_sweep_stage(
        p["task"],
        p["model"],
        p["train"],
        {**p["size_sweep"], "sizes": [6], "fixed_points": False},
        p["evaluation"],
        p["battery"],
        metrics_path=str(tmp_path / "sweep" / "metrics.json"),
        table_path=str(tmp_path / "sweep" / "sizes.csv"),
        arrays_path=str(tmp_path / "sweep" / "arrays.npz"),
    )
    assert sweep["sizes"] == [6] and len(sweep["classes"]) == 1


def test_unknown_method_rejected(tmp_path) -> None:
    p = study_params()
    with pytest.raises(ValueError, match="unknown reduction method"):
        reduce_stage(
            "bogus",
            {},
            p["finetune"],
            p["evaluation"],
            p["battery"],
            p["criterion"],
            checkpoint_path="x",
            original_metrics_path="y",
            metrics_path=str(tmp_path / "m.json"),
            curve_path=str(tmp_path / "c.csv"),
            arrays_path=str(tmp_path / "a.npz"),
        )


def test_fine_tune_keeps_the_best_state() -> None:
    """Early stopping on the trained-interval error: even a wild learning rate cannot leave
    the network worse than it started, and the same seed gives the same result."""
    p = study_params()
    task, model, _ = _settings(p)
    net = csg_mod.build_csg_rnn(model, task.dt_ms, 0)
    iv = np.asarray(task.train_intervals_ms)
    before = csg_mod.timing_error(net, task, iv)
    a, b = copy.deepcopy(net), copy.deepcopy(net)
    kw = dict(steps=3, batch_size=2, lr=0.5, grad_clip_norm=0.0, seed=1, val_every=1)
    out = csg_mod.fine_tune(a, task, **kw)
    csg_mod.fine_tune(b, task, **kw)
    assert csg_mod.timing_error(a, task, iv) <= before
    assert len(out["losses"]) == 3 and 0 <= out["best_step"] <= 3
    for va, vb in zip(a.state_dict().values(), b.state_dict().values(), strict=True):
        assert torch.equal(va, vb)


def test_network_seed_gives_each_network_its_own_recorded_draws(tmp_path) -> None:
    """Per-network stages derive every seed from (base seed, network seed), record them,
    and network 0 is not the single network the base seeds alone would train."""
    from rnnlab.seeds import derive_seed

    p = study_params()
    p = {**p, "train": {**p["train"], "max_steps": 2, "val_every": 1}}
    weights, seeds = {}, {}
    for net in (None, 0, 1):
        d = tmp_path / f"net{net}"
        m = train_stage(
            p["task"],
            p["model"],
            p["train"],
            p["evaluation"],
            checkpoint_path=str(d / "model.pt"),
            curve_path=str(d / "loss_curve.csv"),
            metrics_path=str(d / "metrics.json"),
            network_seed=net,
        )
        seeds[net] = read_json(d / "metrics.json")["seeds"]
        assert m["seeds"] == seeds[net]
        weights[net] = csg_mod.weights_of(csg_mod.load_trained_csg(str(d / "model.pt"))[0])["rec"]
    base = p["train"]["seed"]
    assert seeds[None] == {
        "network": None,
        "train": base,
        "evaluation": p["evaluation"]["noise_seed"],
    }
    for net in (0, 1):
        assert seeds[net]["network"] == net
        assert seeds[net]["train"] == derive_seed(base, net)
        assert seeds[net]["evaluation"] == derive_seed(p["evaluation"]["noise_seed"], net)
    assert seeds[0]["train"] != seeds[1]["train"] != base

    assert not np.array_equal(weights[0], weights[1])
    assert not np.array_equal(weights[None], weights[0])
