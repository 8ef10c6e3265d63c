"""masked_mse and song_yang_loss against hand computation; masking; gradient flow."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnlab.models.ctrnn import CTRNN, CTRNNConfig
from rnnlab.models.losses import masked_mse, song_yang_loss


def _data():
    g = torch.Generator().manual_seed(0)
    out = torch.randn(2, 4, 3, generator=g)
    tgt = torch.randn(2, 4, 3, generator=g)
    mask = torch.tensor([[0.0, 1.0, 1.0, 5.0], [0.0, 0.0, 1.0, 2.0]])
    return out, tgt, mask


def test_masked_mse_per_time_yang_by_hand():
    out, tgt, mask = _data()
    o, t, c = out.numpy(), tgt.numpy(), mask.numpy()
    expected = np.mean((c[:, :, None] * (o - t)) ** 2)  # mask before squaring, plain mean
    got = masked_mse(out, tgt, mask)
    assert got.item() == pytest.approx(expected, rel=1e-6)


def test_masked_mse_per_time_song_by_hand():
    out, tgt, mask = _data()
    o, t, c = out.numpy(), tgt.numpy(), mask.numpy()
    w = np.broadcast_to(c[:, :, None], o.shape)
    expected = np.sum(w * (o - t) ** 2) / np.sum(w)
    assert masked_mse(out, tgt, mask, mode="song").item() == pytest.approx(expected, rel=1e-6)


def test_masked_mse_per_channel_mask():
    out, tgt, mask = _data()
    per_channel = mask[:, :, None] * torch.tensor([2.0, 1.0, 1.0])  # fixation column × 2
    o, t, c = out.numpy(), tgt.numpy(), per_channel.numpy()
    assert masked_mse(out, tgt, per_channel).item() == pytest.approx(
        np.mean((c * (o - t)) ** 2), rel=1e-6
    )
    assert masked_mse(out, tgt, per_channel, mode="song").item() == pytest.approx(
        np.sum(c * (o - t) ** 2) / np.sum(c), rel=1e-6
    )
    shared = torch.tensor([1.0, 0.0, 3.0]).expand(1, 1, 3)  # broadcast over batch and time
    assert masked_mse(out, tgt, shared).item() == pytest.approx(
        np.mean((shared.numpy() * (o - t)) ** 2), rel=1e-6
    )


def test_no_mask_is_plain_mse():
    out, tgt, _ = _data()
    ref = torch.nn.functional.mse_loss(out, tgt)
    for mode in ("yang", "song"):
        assert masked_mse(out, tgt, None, mode=mode).item() == pytest.approx(ref.item())
    ones = torch.ones(2, 4)
    assert masked_mse(out, tgt, ones, mode="song").item() == pytest.approx(ref.item(), rel=1e-6)


@pytest.mark.parametrize("mode", ["yang", "song"])
def test_zero_mask_entries_do_not_contribute(mode):
    out, tgt, mask = _data()
    base = masked_mse(out, tgt, mask, mode=mode)
    changed = out.clone()
    changed[mask == 0] += 100.0  # where the cost is 0 the output may be anything
    assert masked_mse(changed, tgt, mask, mode=mode).item() == pytest.approx(base.item())
    leaf = out.clone().requires_grad_(True)
    masked_mse(leaf, tgt, mask, mode=mode).backward()
    assert torch.all(leaf.grad[mask == 0] == 0)
    assert torch.all(leaf.grad[mask > 0].abs().sum(-1) > 0)


def test_all_zero_mask_gives_zero():
    out, tgt, _ = _data()
    zero = torch.zeros(2, 4)
    assert masked_mse(out, tgt, zero, mode="yang").item() == 0.0
    assert masked_mse(out, tgt, zero, mode="song").item() == 0.0


@pytest.mark.parametrize(
    ("mask", "match"),
    [
        (torch.ones(4), "cost_mask"),
        (torch.ones(2, 5), "cost_mask"),
        (torch.ones(2, 4, 2), "broadcast"),
        (-torch.ones(2, 4), "non-negative"),
    ],
)
def test_bad_masks_raise(mask, match):
    out, tgt, _ = _data()
    with pytest.raises(ValueError, match=match):
        masked_mse(out, tgt, mask)


def test_bad_shapes_and_mode_raise():
    out, tgt, mask = _data()
    with pytest.raises(ValueError, match="shapes differ"):
        masked_mse(out, tgt[:, :3], mask)
    with pytest.raises(ValueError, match="mode"):
        masked_mse(out, tgt, mask, mode="l1")  # type: ignore[arg-type]


def _model(dale="reparam"):
    cfg = CTRNNConfig(n_input=2, n_hidden=6, n_output=3, dale=dale, rec_density=0.7)
    return CTRNN(cfg, generator=torch.Generator().manual_seed(1))


def test_song_yang_loss_components_by_hand():
    model = _model()
    x = torch.randn(2, 4, 2, generator=torch.Generator().manual_seed(2))
    _, tgt, mask = _data()
    out, rates = model(x)
    lam = {
        "l2_weight_rec": 0.3,
        "l2_weight_in": 0.2,
        "l2_weight_out": 0.1,
        "l2_rate": 0.05,
        "l1_rate": 0.07,
        "l1_weight_rec": 0.01,
    }
    terms = song_yang_loss(out, tgt, mask, rates, model, **lam)
    w = {k: v.detach().numpy() for k, v in model.effective_weights().items()}
    raw_rec = (model.w_rec * model.rec_mask).detach().numpy()
    r = rates.detach().numpy()
    expected = {
        "mse": masked_mse(out, tgt, mask).item(),
        "l2_weight_rec": 0.3 * np.mean(raw_rec**2),  # |W̃∘M|·D has the raw masked magnitude
        "l2_weight_in": 0.2 * np.mean(w["in"] ** 2),
        "l2_weight_out": 0.1 * np.mean(w["out"] ** 2),
        "l1_weight_rec": 0.01 * np.mean(np.abs(raw_rec)),
        "l1_weight_in": 0.0,
        "l1_weight_out": 0.0,
        "l2_rate": 0.05 * np.mean(r**2),
        "l1_rate": 0.07 * np.mean(np.abs(r)),
    }
    assert set(terms) == set(expected) | {"total"}
    for key, value in expected.items():
        assert terms[key].item() == pytest.approx(value, rel=1e-5, abs=1e-12), key
    assert terms["total"].item() == pytest.approx(sum(expected.values()), rel=1e-5)


def test_song_yang_defaults_are_plain_masked_mse():
    model = _model()
    x = torch.randn(2, 4, 2, generator=torch.Generator().manual_seed(3))
    _, tgt, mask = _data()
    out, rates = model(x)
    terms = song_yang_loss(out, tgt, mask, rates, model, mse_mode="song")
    assert terms["total"].item() == pytest.approx(masked_mse(out, tgt, mask, mode="song").item())
    assert all(terms[k].item() == 0.0 for k in terms if k not in ("mse", "total"))


@pytest.mark.parametrize("dale", ["none", "reparam", "project"])
def test_regulariser_gradients_reach_weights(dale):
    model = _model(dale)
    x = torch.randn(2, 4, 2, generator=torch.Generator().manual_seed(4))
    out, rates = model(x)
    zero_mask = torch.zeros(2, 4)  # the data term contributes nothing: only regularisers
    terms = song_yang_loss(
        out,
        out.detach() + 1.0,
        zero_mask,
        rates,
        model,
        l2_weight_rec=1.0,
        l2_weight_in=1.0,
        l2_weight_out=1.0,
    )
    assert terms["mse"].item() == 0.0
    terms["total"].backward()
    n = model.config.n_hidden
    for name, mask in (
        ("w_rec", model.rec_mask),
        ("w_in", model.in_mask),
        ("w_out", model.out_mask),
    ):
        grad = getattr(model, name).grad
        param = getattr(model, name).detach()
        # d/dW mean((W∘M)²) = 2 W M² / numel
        np.testing.assert_allclose(
            grad.numpy(), (2 * param * mask**2 / mask.numel()).numpy(), rtol=1e-5, atol=1e-8
        )
        assert grad.abs().sum() > 0
    assert model.w_rec.grad.shape == (n, n)


def test_rate_regulariser_gradient_flows_through_dynamics():
    model = _model()
    x = torch.rand(2, 4, 2, generator=torch.Generator().manual_seed(5)) + 0.5
    out, rates = model(x)
    terms = song_yang_loss(out, out.detach(), None, rates, model, l2_rate=1.0, l1_rate=1.0)
    assert terms["mse"].item() == 0.0 and terms["l2_rate"].item() > 0
    terms["total"].backward()
    assert model.w_in.grad.abs().sum() > 0 and model.w_rec.grad.abs().sum() > 0
    assert model.w_out.grad.abs().sum() == 0  # rates do not depend on the readout


def test_negative_coefficient_raises():
    model = _model()
    out, rates = model(torch.zeros(1, 2, 2))
    with pytest.raises(ValueError, match="l2_rate"):
        song_yang_loss(out, out, None, rates, model, l2_rate=-1.0)
