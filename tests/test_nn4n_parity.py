"""Forward parity of rnnlab's CTRNN and structure masks with nn4n 1.1.1 (circuits.md part A).

nn4n conventions matched here (read from its installed source): weights are ``W[post, pre]``
(``x @ W.T + b``); input and hidden biases both sit inside the α-bracket, so rnnlab's single
``b_rec`` is their sum; α = dt/τ scalar; v_0 = 0 and fr_0 = f(v_0); the readout is taken from
the post-update rates; sequences are time-first. nn4n's ``/10`` E/I init quirk is irrelevant
because weights are copied (and scaled back ×10 so the dynamics are not trivially weak).
nn4n ≥ 1.1.1 is test-only; it uses global RNG state, so draws are wrapped in ``fork_rng``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("nn4n")

from nn4n.mask import MultiArea, MultiAreaEI  # noqa: E402
from nn4n.model import CTRNN as NN4NCTRNN  # noqa: E402

from rnnlab.models.ctrnn import CTRNN, CTRNNConfig  # noqa: E402
from rnnlab.models.structure import (  # noqa: E402
    ctrnn_masks,
    multi_area_ei_masks,
    multi_area_masks,
)

ATOL = RTOL = 1e-5
DT, TAU = 20.0, 100.0  # α = 0.2


def _nn4n(seed: int, **kwargs) -> NN4NCTRNN:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return NN4NCTRNN(dt=DT, tau=TAU, **kwargs)


def _layers(m: NN4NCTRNN):
    return m.recurrent_layer.input_layer, m.recurrent_layer.hidden_layer, m.readout_layer


def _rnnlab_from(m: NN4NCTRNN, masks=None, **cfg) -> CTRNN:
    """An rnnlab CTRNN with the nn4n model's weights and biases (b_rec = b_in + b_hid)."""
    inp, hid, out = _layers(m)
    n_in, n, n_out = m.dims
    config = CTRNNConfig(
        n_input=n_in, n_hidden=n, n_output=n_out, dt=DT, tau=TAU, autapses=True, **cfg
    )
    model = CTRNN(config, generator=torch.Generator().manual_seed(0), masks=masks)
    with torch.no_grad():
        model.w_in.copy_(inp.weight)
        model.w_rec.copy_(hid.weight)
        model.w_out.copy_(out.weight)
        model.b_rec.copy_(inp.bias + hid.bias)
        model.b_out.copy_(out.bias)
    model.eval()
    return model


def _inputs(batch=5, steps=40, n_in=3, seed=1) -> torch.Tensor:
    return torch.randn(batch, steps, n_in, generator=torch.Generator().manual_seed(seed))


def _run_nn4n(m: NN4NCTRNN, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.no_grad():
        out, states = m(x.transpose(0, 1))  # nn4n is time-first, returns [states] in 1.1.1
    return out.transpose(0, 1), states[0].transpose(0, 1)


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "retanh"])
def test_dense_forward_parity(activation):
    m = _nn4n(0, dims=[3, 24, 2], activation=activation, biases="uniform", weights="uniform")
    with torch.no_grad():  # larger recurrent weights: richer dynamics than nn4n's ±1/√N
        _layers(m)[1].weight.mul_(4.0)
    m.eval()
    model = _rnnlab_from(m, activation=activation)
    x = _inputs()
    ref_out, ref_rates = _run_nn4n(m, x)
    with torch.no_grad():
        out, rates = model(x)
    assert ref_rates.std() > 1e-2  # the comparison is not between two near-constant traces
    torch.testing.assert_close(rates, ref_rates, atol=ATOL, rtol=RTOL)
    torch.testing.assert_close(out, ref_out, atol=ATOL, rtol=RTOL)


def _ei_structure():
    return multi_area_ei_masks(
        [10, 16, 12],
        0.4,
        0.2,
        0.6,
        n_input=3,
        n_output=2,
        generator=np.random.default_rng(5),
        e_fraction=0.75,
        input_areas=(0,),
        readout_areas=(-1,),
        unit_order="dale",  # CTRNN's "first round(e·N) units are E" signs
    )


def _nn4n_ei(struct, seed=0) -> NN4NCTRNN:
    # separate copies: nn4n mutates the lists and converts masks in place
    sparsity = [struct["in"].T.copy(), struct["rec"].T.copy(), struct["out"].T.copy()]
    ei = [struct["in"].T.copy(), struct["rec_sign"].T.copy(), struct["out_sign"].T.copy()]
    m = _nn4n(
        seed,
        dims=[3, 38, 2],
        activation="relu",
        biases="uniform",
        sparsity_masks=sparsity,
        ei_masks=ei,
    )
    with torch.no_grad():
        for layer in _layers(m):
            layer.weight.mul_(10.0)  # undo nn4n's /10 E/I init quirk
    return m


def test_multi_area_ei_forward_parity():
    struct = _ei_structure()
    m = _nn4n_ei(struct)
    model = _rnnlab_from(
        m,
        masks=ctrnn_masks(struct),
        activation="relu",
        dale="project",
        e_fraction=struct["e_fraction"],
    )
    np.testing.assert_array_equal(model.signs.numpy(), struct["signs"])
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    model.project_()  # nn4n's init already satisfies every constraint: a no-op here
    for k, v in model.named_parameters():
        torch.testing.assert_close(v, before[k], atol=0, rtol=0)
    x = _inputs(n_in=3, seed=2)
    m.train()  # training mode: nn4n enforces its constraints before the forward pass
    ref_out, ref_rates = _run_nn4n(m, x)
    with torch.no_grad():
        out, rates = model(x)
    assert ref_rates.std() > 1e-2
    torch.testing.assert_close(rates, ref_rates, atol=ATOL, rtol=RTOL)
    torch.testing.assert_close(out, ref_out, atol=ATOL, rtol=RTOL)


def _perturb(m: NN4NCTRNN, model: CTRNN, layers: tuple[str, ...]) -> None:
    """The same unconstrained 'optimiser step' in both models (signs and zeros violated)."""
    g = torch.Generator().manual_seed(9)
    pairs = dict(zip(("in", "rec", "out"), _layers(m), strict=True))
    with torch.no_grad():
        for name in layers:
            w4 = pairs[name].weight
            w4.add_(0.3 * torch.randn(w4.shape, generator=g))
            getattr(model, f"w_{name}").copy_(w4)


def _projected_parity(layers: tuple[str, ...]) -> None:
    struct = _ei_structure()
    m = _nn4n_ei(struct)
    model = _rnnlab_from(
        m,
        masks=ctrnn_masks(struct),
        activation="relu",
        dale="project",
        dale_io=True,
        e_fraction=struct["e_fraction"],
    )
    _perturb(m, model, layers)
    model.project_()  # rnnlab: explicit projection after the step
    m.train()  # nn4n: projection at the start of the next training-mode forward
    x = _inputs(n_in=3, seed=3)
    ref_out, ref_rates = _run_nn4n(m, x)
    with torch.no_grad():
        out, rates = model(x)
    torch.testing.assert_close(rates, ref_rates, atol=ATOL, rtol=RTOL)
    torch.testing.assert_close(out, ref_out, atol=ATOL, rtol=RTOL)


def test_projection_parity_recurrent():
    _projected_parity(("rec",))


def test_projection_parity_input_and_readout():
    """dale_io=True: W_in >= 0 and readout columns signed by unit type, as nn4n's E/I masks."""
    _projected_parity(("in", "out"))


def _noise_std(placement: str, sigma4: float, sigma_rec: float) -> tuple[float, float]:
    """Std of the rates with zero weights and inputs: nn4n vs rnnlab (nn4n noise scaling)."""
    n_in, n, n_out, batch, steps = 1, 8, 1, 4000, 30
    kw = {"preact_noise": sigma4} if placement == "pre" else {"postact_noise": sigma4}
    m = _nn4n(0, dims=[n_in, n, n_out], activation="tanh", weights="zero", **kw)
    m.train()  # nn4n's noise is only switched on by train()
    x = torch.zeros(batch, steps, n_in)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(11)
        _, ref_rates = _run_nn4n(m, x)
    cfg = CTRNNConfig(
        n_input=n_in,
        n_hidden=n,
        n_output=n_out,
        dt=DT,
        tau=TAU,
        activation="tanh",
        sigma_rec=sigma_rec,
        noise_scaling="nn4n",
        noise_placement=placement,
        rec_init="zero",
        in_init="zero",
        out_init="zero",
    )
    model = CTRNN(cfg).eval()
    with torch.no_grad():
        _, rates = model(x, noise_generator=torch.Generator().manual_seed(12))
    return float(ref_rates[:, -1].std()), float(rates[:, -1].std())


def test_preactivation_noise_scale_matches_nn4n():
    ref, got = _noise_std("pre", 0.5, 0.5)
    assert got == pytest.approx(ref, rel=0.03)


def test_postactivation_noise_same_sigma():
    ref, got = _noise_std("post", 0.5, 0.5)
    assert got == pytest.approx(ref, rel=0.03)


def _with_np_seed(seed: int, fn):
    state = np.random.get_state()
    try:
        np.random.seed(seed)
        return fn()
    finally:
        np.random.set_state(state)


@pytest.mark.parametrize("ei", [False, True])
def test_mask_generators_match_nn4n_deterministic_cases(ei):
    """With probabilities in {0, 1} both generators are deterministic: masks must be equal."""
    sizes, dims = [4, 6, 5], [2, 15, 3]
    common = {
        "dims": dims,
        "n_areas": sizes,
        "area_connectivities": [1.0, 0.0, 1.0],
        "input_areas": [0, 1],
        "readout_areas": [2],
    }
    ours_kw = {
        "n_input": 2,
        "n_output": 3,
        "generator": np.random.default_rng(0),
        "input_areas": (0, 1),
        "readout_areas": (2,),
    }
    if ei:
        flags = [False, True, True, False]
        ref = _with_np_seed(
            0,
            lambda: MultiAreaEI(
                exc_pct=0.5, inter_area_connections=flags, inh_readout=False, **common
            ),
        )
        ours = multi_area_ei_masks(
            sizes, 1.0, 0.0, 1.0, e_fraction=0.5, inter_area=flags, inh_readout=False, **ours_kw
        )
        rec, out = ours["rec_sign"], ours["out_sign"]
    else:
        ref = _with_np_seed(0, lambda: MultiArea(**common))
        ours = multi_area_masks(sizes, 1.0, 0.0, 1.0, **ours_kw)
        rec, out = ours["rec"], ours["out"]
    np.testing.assert_array_equal(rec, ref.hidden_mask)
    np.testing.assert_array_equal(ours["in"], ref.input_mask)
    np.testing.assert_array_equal(out, ref.readout_mask)
    in_t, hid_t, out_t = ref.get_masks()  # (pre, post): what nn4n's CTRNN takes
    np.testing.assert_array_equal(hid_t.T, rec)
    for a in range(len(sizes)):
        np.testing.assert_array_equal(np.flatnonzero(ours["areas"] == a), ref.get_area_idx(a))


def test_mask_block_densities_match_nn4n_statistically():
    """Same Bernoulli block semantics: block densities of both generators agree."""
    sizes, p = [60, 80, 60], (0.3, 0.1, 0.5)
    ref = _with_np_seed(
        1,
        lambda: MultiArea(dims=[1, 200, 1], n_areas=sizes, area_connectivities=list(p)),
    )
    ours = multi_area_masks(sizes, *p, n_input=1, n_output=1, generator=np.random.default_rng(1))
    b = np.concatenate([[0], np.cumsum(sizes)])
    for i in range(3):
        for j in range(3):
            r = ref.hidden_mask[b[i] : b[i + 1], b[j] : b[j + 1]].mean()
            o = ours["rec"][b[i] : b[i + 1], b[j] : b[j + 1]].mean()
            q = p[2] if i == j else (p[0] if j < i else p[1])
            se = np.sqrt(2 * q * (1 - q) / (sizes[i] * sizes[j]))
            assert abs(r - o) < 5 * se, (i, j, r, o)
