"""Leaky rate recurrence with a hand-written backward pass (BPTT without an autograd graph).

Computes exactly the loop of :meth:`rnnlab.models.ctrnn.CTRNN.forward`::

    x_0 = x0 (broadcast to (B, N)),   r_0 = f(x_0)
    for t = 1..T:  x_t = lerp(x_{t-1}, drive_t + r_{t-1} @ w_rec_t, alpha)
                   r_t = f(x_t) + eta_t              (eta: optional post-activation noise)

and returns the stacked states ``X = (x_1..x_T)`` and rates ``R = (r_1..r_T)``, both (T, B, N).
``w_rec_t`` is W_rec^T, so ``r @ w_rec_t == (W_rec r^T)^T``.

Forward runs without autograd into preallocated (T, B, N) buffers. Backward keeps R (an
output the caller keeps for its readout anyway) and, only with post-noise or for softplus
and power, X; for relu/tanh/sigmoid/retanh f'(x) is computed exactly from R.
Backward runs the adjoint ``a_t = dL/dx_t`` back in time with one (B, N) x (N, N) matmul per step::

    a_t = gX_t + (1 - alpha) a_{t+1} + f'(x_t) (gR_t + a_{t+1} @ (diag(alpha) W_rec))

then forms dL/d w_rec_t = (R_prev^T A) diag(alpha) as one GEMM over all steps,
dL/d drive = alpha * A, dL/d x0 = a_0 (summed to x0's shape) and dL/d eta_t = dL/dr_t.
``alpha`` gets no gradient (it is a buffer); passing one that requires grad is an error.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.autograd.function import FunctionCtx, once_differentiable

from rnnlab.allocator import tune_malloc

ACTIVATIONS = ("relu", "softplus", "tanh", "sigmoid", "retanh", "power")
_SOFTPLUS_THRESHOLD = 20.0  # torch.nn.functional.softplus default (beta = 1)
# f' is an exact function of f(x) for these; without post-noise backward needs only the rates.
_DERIV_FROM_RATES = ("relu", "tanh", "sigmoid", "retanh")


def _act_out(name: str, x: torch.Tensor, out: torch.Tensor) -> None:
    """In-place activation ``out <- f(x)`` into a preallocated buffer (no allocation)."""
    if name == "relu":
        torch.clamp(x, min=0.0, out=out)
    elif name == "softplus":
        torch.ops.aten.softplus.out(x, 1.0, _SOFTPLUS_THRESHOLD, out=out)
    elif name == "tanh":
        torch.tanh(x, out=out)
    elif name == "sigmoid":
        torch.sigmoid(x, out=out)
    elif name == "retanh":
        torch.tanh(x, out=out).clamp_(min=0.0)
    elif name == "power":
        torch.clamp(x, min=0.0, out=out).square_()
    else:
        raise ValueError(f"leaky_recurrence: unknown activation {name!r}; one of {ACTIVATIONS}")


def _act(name: str, x: torch.Tensor) -> torch.Tensor:
    """f(x) as a new tensor (same values as the ``ACTIVATIONS`` of ctrnn.py)."""
    out = torch.empty_like(x)
    _act_out(name, x, out)
    return out


def _act_deriv_out(
    name: str, x: torch.Tensor | None, out: torch.Tensor, fx: torch.Tensor | None = None
) -> torch.Tensor:
    """``out <- f'(x)`` as torch autograd computes it (relu'(0) = 0, softplus threshold).

    ``fx``, if given, must be f(x) exactly (rates without noise); activations in
    ``_DERIV_FROM_RATES`` then use it (x may be None) instead of recomputing f.
    """
    if name == "relu" and fx is not None:
        return torch.gt(fx, 0.0, out=out)  # relu(x) > 0 exactly when x > 0
    if name in ("relu", "power"):
        torch.gt(x, 0.0, out=out)
        return out if name == "relu" else out.mul_(x).mul_(2.0)  # 2 relu(x)
    if name == "softplus":
        return torch.sigmoid(x, out=out).masked_fill_(x > _SOFTPLUS_THRESHOLD, 1.0)
    if name == "sigmoid":
        y = torch.sigmoid(x, out=out) if fx is None else fx
        return torch.mul(y, 1.0 - y, out=out)
    y = torch.tanh(x, out=out) if fx is None else fx  # tanh or retanh: 1 - y*y
    positive = y > 0 if name == "retanh" else None
    torch.addcmul(torch.ones((), dtype=y.dtype, device=y.device), y, y, value=-1.0, out=out)
    return out if positive is None else out.mul_(positive)


class LeakyRecurrence(torch.autograd.Function):
    """autograd Function for :func:`leaky_recurrence`; see the module docstring."""

    @staticmethod
    def forward(
        ctx: FunctionCtx,
        drive: torch.Tensor,
        w_rec_t: torch.Tensor,
        alpha: torch.Tensor,
        x0: torch.Tensor,
        activation: str,
        post_noise: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        steps, batch, n = drive.shape
        states = drive.new_empty((steps, batch, n))
        rates = drive.new_empty((steps, batch, n))
        x = x0.expand(batch, n)
        r = _act(activation, x)
        h = drive.new_empty((batch, n))
        noise = None if post_noise is None else post_noise.expand(steps, batch, n).unbind(0)
        for t, (d_t, x_t, r_t) in enumerate(
            zip(drive.unbind(0), states.unbind(0), rates.unbind(0), strict=True)
        ):
            torch.addmm(d_t, r, w_rec_t, out=h)
            torch.lerp(x, h, alpha, out=x_t)
            _act_out(activation, x_t, r_t)
            if noise is not None:
                r_t.add_(noise[t])
            x, r = x_t, r_t
        ctx.activation = activation
        ctx.has_noise = post_noise is not None
        # X is kept only where f'(x) cannot be read off the rates (R is the caller's anyway).
        keep_x = post_noise is not None or activation not in _DERIV_FROM_RATES
        ctx.save_for_backward(states if keep_x else None, rates, w_rec_t, alpha, x0, post_noise)
        ctx.set_materialize_grads(False)
        return states, rates

    @staticmethod
    @once_differentiable
    def backward(
        ctx: Any, grad_states: torch.Tensor | None, grad_rates: torch.Tensor | None
    ) -> tuple[torch.Tensor | None, ...]:
        states, rates, w_rec_t, alpha, x0, post_noise = ctx.saved_tensors
        activation: str = ctx.activation
        steps, batch, n = rates.shape
        need_drive, need_w, _, need_x0, _, need_noise = ctx.needs_input_grad
        need_noise = need_noise and ctx.has_noise
        if steps == 0:
            zero = torch.zeros_like
            return (
                zero(rates) if need_drive else None,
                zero(w_rec_t) if need_w else None,
                None,
                zero(x0) if need_x0 else None,
                None,
                zero(post_noise) if need_noise else None,
            )
        g_x = None if grad_states is None else grad_states.contiguous()
        g_r = None if grad_rates is None else grad_rates.contiguous()
        one_minus_alpha = 1.0 - alpha
        # a @ w_alpha == (alpha * a) @ w_rec_t^T: the drive gradient pushed back through W.
        w_alpha = (w_rec_t * alpha.unsqueeze(0)).t().contiguous()
        # adj holds f'(x_t) first; step t overwrites slice t with a_t = dL/dx_t (f'(x_t) is
        # read only there), and at the end adj becomes alpha * a = dL/d drive.
        fx = None if ctx.has_noise else rates
        adj = _act_deriv_out(activation, states, torch.empty_like(rates), fx)
        g_rate_tot = torch.empty_like(rates) if need_noise else None  # dL/dr_t
        buf = rates.new_empty((batch, n))

        last = steps - 1
        if g_r is None:
            adj[last].zero_()
            if need_noise:
                g_rate_tot[last].zero_()
        else:
            adj[last].mul_(g_r[last])
            if need_noise:
                g_rate_tot[last].copy_(g_r[last])
        if g_x is not None:
            adj[last].add_(g_x[last])

        adj_s = adj.unbind(0)
        gx_s = None if g_x is None else g_x.unbind(0)
        gr_s = None if g_r is None else g_r.unbind(0)
        tot_s = None if g_rate_tot is None else g_rate_tot.unbind(0)
        for t in range(last - 1, -1, -1):
            a_next, a_t = adj_s[t + 1], adj_s[t]
            b = buf if tot_s is None else tot_s[t]
            if gr_s is None:
                torch.mm(a_next, w_alpha, out=b)
            else:
                torch.addmm(gr_s[t], a_next, w_alpha, out=b)
            if gx_s is None:
                a_t.mul_(b)
            else:
                torch.addcmul(gx_s[t], a_t, b, out=a_t)
            a_t.addcmul_(one_minus_alpha, a_next)

        x0_full = x0.expand(batch, n)
        grad_x0 = None
        if need_x0:
            torch.mm(adj[0], w_alpha, out=buf)
            grad_x0 = buf.mul_(_act_deriv_out(activation, x0_full, torch.empty_like(buf)))
            grad_x0.addcmul_(one_minus_alpha, adj[0])
            grad_x0 = grad_x0.sum_to_size(x0.shape)
        grad_w = None
        if need_w:
            r0 = _act(activation, x0_full)
            grad_w = torch.mm(r0.t(), adj[0])
            if steps > 1:
                r_prev = rates[:last].reshape(-1, n)
                grad_w.addmm_(r_prev.t(), adj[1:].reshape(-1, n))
            grad_w.mul_(alpha.unsqueeze(0))
        grad_noise = None
        if need_noise:
            grad_noise = g_rate_tot.sum_to_size(post_noise.shape)
        grad_drive = adj.mul_(alpha) if need_drive else None
        return grad_drive, grad_w, None, grad_x0, None, grad_noise


def leaky_recurrence(
    drive: torch.Tensor,
    w_rec_t: torch.Tensor,
    alpha: torch.Tensor | float,
    x0: torch.Tensor,
    activation: str,
    post_noise: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run the leaky recurrence; return ``(states X, rates R)``, each (T, B, N).

    drive: (T, B, N) input projection + bias + pre-activation noise; w_rec_t: (N, N) = W_rec^T;
    alpha: (N,) or scalar dt/tau (no gradient); x0: (N,) or (B, N) initial state;
    post_noise: optional noise added to the rates, broadcastable to (T, B, N).
    """
    if drive.dim() != 3:
        raise ValueError(f"leaky_recurrence: drive must be (T, B, N), got {tuple(drive.shape)}")
    _, batch, n = drive.shape
    if tuple(w_rec_t.shape) != (n, n):
        raise ValueError(
            f"leaky_recurrence: w_rec_t must be ({n}, {n}), got {tuple(w_rec_t.shape)}"
        )
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"leaky_recurrence: unknown activation {activation!r}; one of {ACTIVATIONS}"
        )
    alpha = torch.as_tensor(alpha, dtype=drive.dtype, device=drive.device)
    if alpha.requires_grad:
        raise ValueError("leaky_recurrence: alpha gets no gradient; pass alpha.detach()")
    alpha = alpha.expand(n).contiguous()
    try:
        torch.broadcast_shapes(tuple(x0.shape), (batch, n))
        if post_noise is not None:
            torch.broadcast_shapes(tuple(post_noise.shape), tuple(drive.shape))
    except RuntimeError as exc:
        raise ValueError(f"leaky_recurrence: incompatible x0/post_noise shape: {exc}") from exc
    if x0.dim() > 2:
        raise ValueError(f"leaky_recurrence: x0 must be (N,) or (B, N), got {tuple(x0.shape)}")
    tune_malloc()  # reuse the (T, B, N) buffers across steps instead of page-faulting them
    return LeakyRecurrence.apply(drive, w_rec_t.contiguous(), alpha, x0, activation, post_noise)
