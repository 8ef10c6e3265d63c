"""The circuit RNN core: equations, Dale's law, masks, persistence, configuration errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnlab.io import CheckpointError, load_checkpoint, save_checkpoint
from rnnlab.models.ctrnn import ACTIVATIONS, CTRNN, CTRNNConfig, euler_reference
from rnnlab.models.zrnn import build_zrnn


def _cfg(**kw) -> CTRNNConfig:
    base = dict(n_input=3, n_hidden=12, n_output=2, dt=0.001, tau=0.01)
    base.update(kw)
    return CTRNNConfig(**base)


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("dale", ["none", "reparam", "project"])
def test_matches_numpy_euler_float64(activation: str, dale: str) -> None:
    torch.manual_seed(0)
    cfg = _cfg(
        activation=activation,
        dale=dale,
        tau=list(np.linspace(0.005, 0.05, 12)),
        learn_x0=True,
        rec_gain=1.5,
    )
    model = CTRNN(cfg, generator=torch.Generator().manual_seed(1)).double()
    with torch.no_grad():
        model.b_rec.normal_(0, 0.3)
        model.b_out.normal_(0, 0.3)
        model.x0.normal_(0, 0.5)
    u = torch.randn(4, 50, 3, dtype=torch.float64)
    out, rates = model(u)
    w = {k: v.detach().numpy() for k, v in model.effective_weights().items()}
    ref_out, ref_rates = euler_reference(
        w,
        model.b_rec.detach().numpy(),
        model.b_out.detach().numpy(),
        model.x0.detach().numpy(),
        u.numpy(),
        model.alpha.numpy(),
        activation,
    )
    np.testing.assert_allclose(rates.detach().numpy(), ref_rates, atol=1e-6, rtol=0)
    np.testing.assert_allclose(out.detach().numpy(), ref_out, atol=1e-6, rtol=0)


def _train_steps(model: CTRNN, steps: int = 5) -> None:
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    gen = torch.Generator().manual_seed(0)
    for _ in range(steps):
        u = torch.randn(3, 20, model.config.n_input, generator=gen)
        out, _ = model(u, noise_generator=gen)
        loss = (out**2).mean() - out.mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        model.project_()
        if model.config.dale != "none":
            _assert_dale(model)


def _assert_dale(model: CTRNN) -> None:
    w = model.effective_weights()["rec"].detach()
    n_e = model.config.n_excitatory
    assert torch.all(w[:, :n_e] >= 0), "E columns must be non-negative"
    assert torch.all(w[:, n_e:] <= 0), "I columns must be non-positive"


@pytest.mark.parametrize("dale", ["reparam", "project"])
def test_dale_holds_after_every_step(dale: str) -> None:
    model = CTRNN(_cfg(dale=dale, e_fraction=0.75), generator=torch.Generator().manual_seed(2))
    _assert_dale(model)
    _train_steps(model)
    if dale == "project":  # the raw parameter itself is sign-clamped
        n_e = model.config.n_excitatory
        assert torch.all(model.w_rec[:, :n_e] >= 0) and torch.all(model.w_rec[:, n_e:] <= 0)


def test_masked_synapses_stay_zero_and_no_autapses() -> None:
    rng = np.random.default_rng(0)
    rec_mask = (rng.random((12, 12)) < 0.4).astype(np.float32)
    in_mask = (rng.random((12, 3)) < 0.5).astype(np.float32)
    for dale in ("none", "reparam", "project"):
        model = CTRNN(
            _cfg(dale=dale),
            generator=torch.Generator().manual_seed(3),
            masks={"rec": rec_mask, "in": in_mask},
        )
        _train_steps(model)
        w = model.effective_weights()
        assert torch.all(w["rec"][torch.from_numpy(rec_mask) == 0] == 0)
        assert torch.all(torch.diagonal(w["rec"]) == 0)
        assert torch.all(w["in"][torch.from_numpy(in_mask) == 0] == 0)


def test_plasticity_zero_freezes_and_scales() -> None:
    plast = np.ones((12, 12), dtype=np.float32)
    plast[:6] = 0.0
    model = CTRNN(
        _cfg(autapses=True),
        generator=torch.Generator().manual_seed(4),
        masks={"rec_plasticity": plast, "out_plasticity": np.zeros((2, 12))},
    )
    before_rec = model.w_rec.detach().clone()
    before_out = model.w_out.detach().clone()
    _train_steps(model)
    assert torch.equal(model.w_rec[:6], before_rec[:6])
    assert not torch.equal(model.w_rec[6:], before_rec[6:])
    assert torch.equal(model.w_out, before_out)


def test_masks_are_copied_buffers() -> None:
    mask = np.ones((12, 12), dtype=np.float32)
    model = CTRNN(_cfg(autapses=True), masks={"rec": mask})
    mask[:] = 0.0  # caller mutates its array afterwards
    assert model.rec_mask.sum() == 144
    assert {"rec_mask", "in_mask", "out_mask", "rec_plasticity", "signs", "alpha"} <= set(
        model.state_dict()
    )


def test_frozen_zero_pattern_like_zrnn() -> None:
    params = dict(
        n_hidden=60,
        tau_s=0.01,
        e_fraction=0.8,
        sigma_rec=0.01,
        sigma_in=0.01,
        rec_init_gain=0.1,
        frozen_zero_init=True,
    )
    model = build_zrnn(params, 0.001, seed=0)
    off_diag = ~torch.eye(60, dtype=torch.bool)
    density = model.rec_mask[off_diag].mean().item()
    assert 0.4 < density < 0.6  # ReLU at init leaves ~50 % of entries at zero
    frozen = model.rec_mask == 0
    _train_steps(model, 3)
    assert torch.all(model.effective_weights()["rec"][frozen] == 0)
    dense = build_zrnn({**params, "frozen_zero_init": False}, 0.001, seed=0)
    assert dense.rec_mask[off_diag].mean().item() == 1.0


def test_noise_conventions() -> None:
    """Per-step state noise std: Song sqrt(2 alpha) sigma, nn4n alpha sigma."""
    alpha, sigma = 0.1, 0.5
    for scaling, expected in (("song", np.sqrt(2 * alpha) * sigma), ("nn4n", alpha * sigma)):
        cfg = _cfg(
            n_input=1,
            n_hidden=2000,
            n_output=1,
            activation="tanh",
            sigma_rec=sigma,
            noise_scaling=scaling,
            in_init="zero",
            rec_init="zero",
        )
        model = CTRNN(cfg)
        _, _, states = model(
            torch.zeros(1, 1, 1),
            noise_generator=torch.Generator().manual_seed(0),
            return_states=True,
        )
        assert states.std().item() == pytest.approx(expected, rel=0.05)
    # no generator -> no noise: deterministic
    model = CTRNN(_cfg(sigma_rec=1.0))
    u = torch.randn(2, 10, 3)
    assert torch.equal(model(u)[0], model(u)[0])


def test_save_load_round_trip(tmp_path) -> None:
    model = CTRNN(_cfg(dale="reparam", learn_x0=True), generator=torch.Generator().manual_seed(5))
    _train_steps(model, 2)
    path = tmp_path / "m.pt"
    save_checkpoint(path, model.to_checkpoint())
    loaded = CTRNN.from_checkpoint(load_checkpoint(path))
    u = torch.randn(2, 30, 3)
    assert torch.equal(model(u)[0], loaded(u)[0])


def test_checkpoint_loading_refuses_pickled_objects(tmp_path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"obj": _Unsafe()}, path)
    with pytest.raises(CheckpointError, match="cannot be read safely"):
        load_checkpoint(path)


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "missing", "not_a_dict"])
def test_damaged_checkpoints_give_a_clear_error(tmp_path, damage: str) -> None:
    path = tmp_path / "m.pt"
    save_checkpoint(path, CTRNN(_cfg()).to_checkpoint())
    blob = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(blob[: len(blob) // 2])
    elif damage == "garbage":
        path.write_bytes(np.random.default_rng(0).bytes(4096))
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "missing":
        path.unlink()
    else:
        torch.save([1, 2, 3], path)
    with pytest.raises(CheckpointError, match=str(path.name)):
        load_checkpoint(path)


class _Unsafe:
    pass


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"tau": -0.01}, "tau must be > 0"),
        ({"tau": 0.0005}, "alpha = dt/tau must be <= 1"),
        ({"e_fraction": 1.2}, "e_fraction must be in"),
        ({"activation": "gelu"}, "activation must be one of"),
        ({"dale": "soft"}, "dale must be one of"),
        ({"tau": [0.01, 0.02]}, "scalar or have n_hidden"),
        ({"n_hidden": 0}, "n_hidden must be >= 1"),
    ],
)
def test_bad_configuration_is_a_clear_error(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        _cfg(**kwargs)


def test_bad_mask_shape_and_inputs() -> None:
    with pytest.raises(ValueError, match=r"mask 'rec' must have shape \(12, 12\)"):
        CTRNN(_cfg(), masks={"rec": np.ones((5, 5))})
    with pytest.raises(ValueError, match="unknown mask"):
        CTRNN(_cfg(), masks={"recurrent": np.ones((12, 12))})
    with pytest.raises(ValueError, match="inputs must be"):
        CTRNN(_cfg())(torch.zeros(2, 5, 4))


@pytest.mark.parametrize("dale", ["reparam", "project"])
def test_dale_io_constrains_input_and_readout(dale: str) -> None:
    model = CTRNN(_cfg(dale=dale, dale_io=True), generator=torch.Generator().manual_seed(6))
    _train_steps(model)
    w = model.effective_weights()
    n_e = model.config.n_excitatory
    assert torch.all(w["in"] >= 0)
    assert torch.all(w["out"][:, :n_e] >= 0) and torch.all(w["out"][:, n_e:] <= 0)
