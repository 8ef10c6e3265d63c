"""Losses for CTRNN training: time-masked squared error and the Song/Yang regularised objective.

Two normalisations of the masked squared error exist in the reference systems, and they
differ, so :func:`masked_mse` takes ``mode``:

- ``"yang"`` (default; gyyang/multitask ``loss_type="lsq"``, maturation.md §2): the mask
  multiplies the error *before* squaring and the result is a plain mean over all
  batch × time × output elements, not renormalised::

      L = mean_{b,t,o} ( c_{b,t,o} · (y − ŷ)_{b,t,o} )²

  so a cost of 5 weighs an error 25×; a trial segment with cost 0 contributes nothing but
  still counts in the denominator.
- ``"song"`` (Song, Yang & Wang 2016 / pycog ``Trainer``, circuits.md A10): the mask weighs the
  squared error and the sum is divided by the mask's sum::

      L = Σ c · (y − ŷ)² / Σ c        (0 when Σ c = 0)

A per-time mask of shape ``output.shape[:-1]`` (e.g. (B, T)) is shared by all output
channels; a per-channel mask is anything broadcastable to ``output.shape`` with the same
number of dimensions (e.g. (B, T, O) or (1, T, O)). In ``"song"`` mode Σ c runs over the mask
broadcast to the full output shape, as pycog's (time, trials, outputs) mask does.
"""

from __future__ import annotations

import math
from typing import Literal, Protocol

import torch

MseMode = Literal["yang", "song"]


class HasEffectiveWeights(Protocol):
    """Anything with CTRNN's ``effective_weights()`` (keys ``rec``, ``in``, ``out``)."""

    def effective_weights(self) -> dict[str, torch.Tensor]: ...


def _broadcast_mask(cost_mask: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
    mask = torch.as_tensor(cost_mask, dtype=output.dtype, device=output.device)
    if mask.dim() == output.dim() - 1 and mask.shape == output.shape[:-1]:
        mask = mask.unsqueeze(-1)  # per-time mask, shared by every output channel
    if mask.dim() != output.dim():
        raise ValueError(
            f"cost_mask must have shape {tuple(output.shape[:-1])} (per time) or be broadcastable "
            f"to {tuple(output.shape)} (per channel), got {tuple(mask.shape)}"
        )
    try:
        torch.broadcast_shapes(mask.shape, output.shape)
    except RuntimeError as err:
        raise ValueError(
            f"cost_mask of shape {tuple(mask.shape)} does not broadcast to output "
            f"{tuple(output.shape)}"
        ) from err
    if bool((mask < 0).any()):
        raise ValueError("cost_mask must be non-negative")
    return mask


def masked_mse(
    output: torch.Tensor,
    target: torch.Tensor,
    cost_mask: torch.Tensor | None = None,
    *,
    mode: MseMode = "yang",
) -> torch.Tensor:
    """Cost-masked squared error (see the module docstring for both normalisations).

    ``cost_mask=None`` gives the plain mean squared error in either mode.
    """
    if output.shape != target.shape:
        raise ValueError(
            f"output and target shapes differ: {tuple(output.shape)} vs {tuple(target.shape)}"
        )
    if mode not in ("yang", "song"):
        raise ValueError(f"mode must be 'yang' or 'song', got {mode!r}")
    err = output - target
    if cost_mask is None:
        return err.pow(2).mean()
    mask = _broadcast_mask(cost_mask, output)
    if mode == "yang":
        return (mask * err).pow(2).mean()
    weighted = (mask * err.pow(2)).sum()
    denom = mask.expand_as(output).sum()
    return weighted / denom.clamp_min(torch.finfo(output.dtype).tiny)


def song_yang_loss(
    output: torch.Tensor,
    target: torch.Tensor,
    cost_mask: torch.Tensor | None,
    rates: torch.Tensor,
    model: HasEffectiveWeights,
    *,
    l2_weight_rec: float = 0.0,
    l2_weight_in: float = 0.0,
    l2_weight_out: float = 0.0,
    l2_rate: float = 0.0,
    l1_rate: float = 0.0,
    l1_weight_rec: float = 0.0,
    l1_weight_in: float = 0.0,
    l1_weight_out: float = 0.0,
    mse_mode: MseMode = "yang",
) -> dict[str, torch.Tensor]:
    """Masked squared error plus weight and rate regularisers (pycog / Song et al. 2016).

    Terms, each already multiplied by its coefficient (all default 0, as in pycog's
    ``defaults`` and in the Yang et al. paper configuration)::

        mse            masked_mse(output, target, cost_mask, mode=mse_mode)
        l2_weight_X    λ · mean(W_X²)     X ∈ {rec, in, out}    (pycog lambda2_X)
        l1_weight_X    λ · mean(|W_X|)                          (pycog lambda1_X)
        l2_rate        λ · mean(r²)       over (B, T, N)        (pycog lambda2_r)
        l1_rate        λ · mean(|r|)                            (Yang l1_h)

    Weights are the *effective* weights (``model.effective_weights()``): with CTRNN these
    have the same magnitude as the masked raw parameters in every Dale mode
    (|W̃ ∘ M| · D), so the penalty equals pycog's penalty on its trainable matrices while
    masked-out entries, which do nothing, are not penalised. The means run over all
    entries, masked zeros included (pycog ``T.mean(W**2)``). nn4n's ``lambda_in/hid/out``
    (λ‖W‖²_F / numel) is the same L2 form. Conversions from gyyang/multitask, which sums:
    its ``l2_weight``·½‖W‖² is ``l2_weight_X = l2_weight · W.numel() / 2`` and its
    ``l2_h``·½Σr² is ``l2_rate = l2_h · rates.numel() / 2`` (batch-size dependent there).

    Returns a dict of the terms (zero-coefficient terms as constant 0, not in the graph)
    and ``total``, their sum.
    """
    coefs = {
        "l2_weight_rec": l2_weight_rec,
        "l2_weight_in": l2_weight_in,
        "l2_weight_out": l2_weight_out,
        "l1_weight_rec": l1_weight_rec,
        "l1_weight_in": l1_weight_in,
        "l1_weight_out": l1_weight_out,
        "l2_rate": l2_rate,
        "l1_rate": l1_rate,
    }
    for name, value in coefs.items():
        if not (math.isfinite(float(value)) and float(value) >= 0.0):
            raise ValueError(f"{name} must be a finite non-negative number, got {value}")

    terms: dict[str, torch.Tensor] = {"mse": masked_mse(output, target, cost_mask, mode=mse_mode)}
    zero = torch.zeros((), dtype=output.dtype, device=output.device)
    weights = model.effective_weights()
    for name, lam in coefs.items():
        lam = float(lam)
        if lam == 0.0:
            terms[name] = zero
            continue
        x = rates if name.endswith("rate") else weights[name.rsplit("_", 1)[1]]
        penalty = x.pow(2).mean() if name.startswith("l2") else x.abs().mean()
        terms[name] = lam * penalty
    terms["total"] = sum(terms.values(), zero)
    return terms
