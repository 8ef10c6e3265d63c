"""Hand-written BPTT of the leaky recurrence: gradcheck and equality with the autograd loop."""

from __future__ import annotations

import pytest
import torch

from rnnlab.models.ctrnn import ACTIVATIONS as CTRNN_ACTIVATIONS
from rnnlab.models.recurrence import ACTIVATIONS, leaky_recurrence

Tensors = tuple[torch.Tensor, torch.Tensor]


def reference_loop(
    drive: torch.Tensor,
    w_rec_t: torch.Tensor,
    alpha: torch.Tensor,
    x0: torch.Tensor,
    activation: str,
    post_noise: torch.Tensor | None = None,
) -> Tensors:
    """The plain autograd loop of ``CTRNN.forward`` (iterating with unbind, not D[t])."""
    act = CTRNN_ACTIVATIONS[activation]
    steps, batch, n = drive.shape
    x = x0.expand(batch, n)
    r = act(x)
    noise = None if post_noise is None else post_noise.expand(steps, batch, n).unbind(0)
    states, rates = [], []
    for t, drive_t in enumerate(drive.unbind(0)):
        x = torch.lerp(x, torch.addmm(drive_t, r, w_rec_t), alpha)
        r = act(x)
        if noise is not None:
            r = r + noise[t]
        states.append(x)
        rates.append(r)
    return torch.stack(states), torch.stack(rates)


def make_inputs(
    steps: int,
    batch: int,
    n: int,
    *,
    dtype: torch.dtype = torch.float64,
    x0_shape: str = "n",
    noise: bool = False,
    gain: float = 1.2,
    seed: int = 0,
) -> dict[str, torch.Tensor | None]:
    gen = torch.Generator().manual_seed(seed)

    def randn(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=gen, dtype=torch.float64).to(dtype)

    shape = (n,) if x0_shape == "n" else (batch, n)
    return {
        "drive": (0.5 * randn(steps, batch, n) + 0.2).requires_grad_(),
        "w_rec_t": (gain / n**0.5 * randn(n, n)).requires_grad_(),
        "alpha": torch.linspace(0.05, 0.6, n, dtype=dtype),
        "x0": (0.5 * randn(*shape)).requires_grad_(),
        "post_noise": (0.1 * randn(steps, batch, n)).requires_grad_() if noise else None,
    }


def grads_of(
    fn, inputs: dict[str, torch.Tensor | None], activation: str, weights: Tensors
) -> tuple[Tensors, dict[str, torch.Tensor]]:
    """Outputs of ``fn`` and the gradients of sum(cX * X) + sum(cR * R) w.r.t. every leaf."""
    leaves = {k: v for k, v in inputs.items() if isinstance(v, torch.Tensor) and v.requires_grad}
    states, rates = fn(**inputs, activation=activation)
    loss = (weights[0] * states).sum() + (weights[1] * rates).sum()
    grads = torch.autograd.grad(loss, list(leaves.values()))
    return (states.detach(), rates.detach()), dict(zip(leaves, grads, strict=True))


def test_activation_names_match_ctrnn() -> None:
    assert set(ACTIVATIONS) == set(CTRNN_ACTIVATIONS)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("noise", [False, True])
@pytest.mark.parametrize("x0_shape", ["n", "bn"])
def test_gradcheck(activation: str, noise: bool, x0_shape: str) -> None:
    inp = make_inputs(5, 3, 4, x0_shape=x0_shape, noise=noise, seed=hash(activation) % 1000)
    names = [k for k, v in inp.items() if v is not None and v.requires_grad]

    def fn(*args: torch.Tensor) -> Tensors:
        kw = dict(inp, **dict(zip(names, args, strict=True)))
        return leaky_recurrence(**kw, activation=activation)

    assert torch.autograd.gradcheck(fn, [inp[k] for k in names], eps=1e-6, atol=1e-7)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("which", ["both", "states", "rates"])
@pytest.mark.parametrize("noise", [False, True])
def test_matches_autograd_loop_float64(activation: str, which: str, noise: bool) -> None:
    inp = make_inputs(40, 4, 7, x0_shape="bn", noise=noise, seed=3)
    gen = torch.Generator().manual_seed(4)
    c_x, c_r = torch.randn(2, 40, 4, 7, generator=gen, dtype=torch.float64)
    weights = (c_x * (which != "rates"), c_r * (which != "states"))
    (xs, rs), g = grads_of(leaky_recurrence, inp, activation, weights)
    (xs_ref, rs_ref), g_ref = grads_of(reference_loop, inp, activation, weights)
    torch.testing.assert_close(xs, xs_ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(rs, rs_ref, rtol=0, atol=1e-12)
    for k in g_ref:
        torch.testing.assert_close(g[k], g_ref[k], rtol=1e-10, atol=1e-10, msg=k)


def zrnn_like(dtype: torch.dtype) -> dict[str, torch.Tensor | None]:
    """N=40 ReLU network with Dale-signed columns (80 % E), no autapses, per-unit alpha."""
    n, steps, batch = 40, 300, 8
    inp = make_inputs(steps, batch, n, dtype=dtype, seed=7)
    gen = torch.Generator().manual_seed(8)
    w = torch.rand(n, n, generator=gen, dtype=torch.float64) * 2.0 / n**0.5
    w.fill_diagonal_(0.0)
    signs = torch.ones(n, dtype=torch.float64)
    signs[int(0.8 * n) :] = -4.0  # I columns stronger, roughly balanced
    w_rec = w * signs.unsqueeze(0)  # column j signed by presynaptic unit j
    inp["w_rec_t"] = w_rec.T.contiguous().to(dtype).requires_grad_()
    inp["alpha"] = torch.linspace(0.05, 0.2, n, dtype=dtype)
    return inp


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_zrnn_like_case(dtype: torch.dtype) -> None:
    inp = zrnn_like(dtype)
    gen = torch.Generator().manual_seed(9)
    weights = tuple(torch.randn(2, 300, 8, 40, generator=gen, dtype=torch.float64).to(dtype))
    (xs, rs), g = grads_of(leaky_recurrence, inp, "relu", weights)
    (xs_ref, rs_ref), g_ref = grads_of(reference_loop, inp, "relu", weights)
    torch.testing.assert_close(xs, xs_ref, rtol=0, atol=0)  # same kernels, same order
    torch.testing.assert_close(rs, rs_ref, rtol=0, atol=0)
    tol = 1e-10 if dtype == torch.float64 else 1e-5
    for k in g_ref:
        scale = g_ref[k].abs().max()
        assert (g[k] - g_ref[k]).abs().max() <= tol * scale, k


def test_long_sequence_completes() -> None:
    """T = 2000 with a tiny network: backward is one linear pass (no O(T^2) slicing)."""
    inp = make_inputs(2000, 2, 3, noise=True, gain=0.5)
    weights = tuple(torch.ones(2, 2000, 2, 3, dtype=torch.float64))
    _, g = grads_of(leaky_recurrence, inp, "softplus", weights)
    _, g_ref = grads_of(reference_loop, inp, "softplus", weights)
    for k in g_ref:
        torch.testing.assert_close(g[k], g_ref[k], rtol=1e-10, atol=1e-10, msg=k)


def test_scalar_alpha_no_grad_inputs_and_inference() -> None:
    inp = make_inputs(10, 2, 5)
    inp["alpha"] = 0.1
    inp["x0"] = inp["x0"].detach()
    (_, rs), g = grads_of(leaky_recurrence, inp, "tanh", (torch.zeros(()), torch.ones(())))
    inp["alpha"] = torch.tensor(0.1, dtype=torch.float64)
    (_, rs_ref), g_ref = grads_of(reference_loop, inp, "tanh", (torch.zeros(()), torch.ones(())))
    assert set(g) == {"drive", "w_rec_t"}
    torch.testing.assert_close(rs, rs_ref, rtol=0, atol=0)
    for k in g_ref:
        torch.testing.assert_close(g[k], g_ref[k], rtol=1e-10, atol=1e-10)
    with torch.no_grad():
        states, rates = leaky_recurrence(**inp, activation="tanh")
    assert not rates.requires_grad and states.shape == (10, 2, 5)


def test_bad_arguments() -> None:
    inp = make_inputs(3, 2, 4)
    with pytest.raises(ValueError, match="unknown activation"):
        leaky_recurrence(**inp, activation="gelu")
    with pytest.raises(ValueError, match="alpha"):
        leaky_recurrence(
            **dict(inp, alpha=inp["alpha"].clone().requires_grad_()), activation="relu"
        )
    with pytest.raises(ValueError, match="w_rec_t"):
        leaky_recurrence(**dict(inp, w_rec_t=torch.zeros(3, 3)), activation="relu")
    with pytest.raises(ValueError, match="x0"):
        leaky_recurrence(**dict(inp, x0=torch.zeros(3, 4, dtype=torch.float64)), activation="relu")


def test_zero_steps() -> None:
    inp = make_inputs(0, 2, 3)
    states, rates = leaky_recurrence(**inp, activation="relu")
    assert states.shape == rates.shape == (0, 2, 3)
    (rates.sum() + inp["x0"].sum()).backward()
    assert torch.equal(inp["x0"].grad, torch.ones(3, dtype=torch.float64))
