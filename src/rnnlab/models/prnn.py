"""PRNN: an LSTM that estimates the stimulus period at every step (reference rhythm.md §8.1).

One ``nn.LSTM`` layer (input = the pulse train, batch first, h_0 = c_0 = 0) and a per-step
``Linear(n_hidden -> 1)`` without output nonlinearity: the estimate P̂_t in seconds, causal in
the pulses. Variable-length batches are either packed (``pack=True``: padding never enters the
recurrence, as in the original) or run padded: the LSTM is causal, so the outputs at every
step inside a trial are the same either way (``tests/test_prnn.py`` checks both against each
trial run alone); only the wasted work on padding differs. Padded is the default because the
backward pass through a packed LSTM is 10-80x slower in PyTorch (measured here: 5.7 s vs
0.17 s for B = 32, T = 800, H = 128 on one CPU thread; pytorch/pytorch#149194).
Outputs beyond each length are 0 (the loss masks them anyway).

Initialisation draws from a seeded generator with PyTorch's default law for LSTM and Linear
(uniform ±1/sqrt(n_hidden)), with three optional changes that make CPU-budget training leave
the original's long loss plateau (rhythm.md §8.3) within a few hundred Adam steps:

* ``output_bias_s``: the readout bias starts there (the trainer passes the mean training
  period, so the untrained net already predicts the prior mean);
* ``input_init_scale``: the input weights are multiplied by it (a sparse 0/1 pulse times a
  weight of ~1/sqrt(H) barely moves the gates);
* ``chrono_t_max`` > 0: "chrono" initialisation of the gate biases (Tallec & Ollivier 2018):
  forget bias log U(1, T_max - 1), input bias its negative, so memories last up to ~T_max
  steps from the start.

With all three off (0, 1, 0) the law is PyTorch's, except a readout bias of exactly 0.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


@dataclass(frozen=True)
class PRNNConfig:
    """Everything that defines a :class:`PRNN`; plain data, stored in checkpoints."""

    n_hidden: int = 256
    n_input: int = 1
    output_bias_s: float = 0.0
    chrono_t_max: float = 0.0
    input_init_scale: float = 1.0

    def __post_init__(self) -> None:
        if self.n_hidden < 1 or self.n_input < 1:
            raise ValueError("PRNNConfig: n_hidden and n_input must be >= 1")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class PRNN(nn.Module):
    """LSTM + linear readout of the period; see the module doc."""

    def __init__(self, config: PRNNConfig, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.config = config
        self.lstm = nn.LSTM(config.n_input, config.n_hidden, num_layers=1, batch_first=True)
        self.readout = nn.Linear(config.n_hidden, 1)
        gen = generator if generator is not None else torch.Generator().manual_seed(0)
        bound = 1.0 / math.sqrt(config.n_hidden)
        with torch.no_grad():
            for param in [*self.lstm.parameters(), self.readout.weight]:
                param.copy_((torch.rand(param.shape, generator=gen) * 2 - 1) * bound)
            self.readout.bias.fill_(config.output_bias_s)
            self.lstm.weight_ih_l0.mul_(config.input_init_scale)
            if config.chrono_t_max > 0:
                h = config.n_hidden
                span = max(config.chrono_t_max - 1.0, 1.0 + 1e-6)
                b_f = torch.log(1.0 + (span - 1.0) * torch.rand(h, generator=gen))
                self.lstm.bias_ih_l0[h : 2 * h] = b_f
                self.lstm.bias_hh_l0[h : 2 * h] = 0.0
                self.lstm.bias_ih_l0[:h] = -b_f
                self.lstm.bias_hh_l0[:h] = 0.0

    def forward(
        self,
        pulses: torch.Tensor,
        lengths: torch.Tensor | None = None,
        *,
        pack: bool = False,
        return_hidden: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Estimates (B, T) and, with ``return_hidden``, the LSTM outputs h_t (B, T, H).

        ``pulses`` is (B, T) or (B, T, n_input); ``lengths`` (B,) valid steps per trial
        (None: all T). ``pack`` runs a packed sequence. Steps beyond a trial's length are 0
        in both outputs.
        """
        x = pulses.unsqueeze(-1) if pulses.dim() == 2 else pulses
        n_steps = x.shape[1]
        if not pack or lengths is None or bool((lengths >= n_steps).all()):
            hidden, _ = self.lstm(x)
        else:
            packed = pack_padded_sequence(
                x, lengths.to("cpu", torch.int64), batch_first=True, enforce_sorted=False
            )
            out, _ = self.lstm(packed)
            hidden, _ = pad_packed_sequence(
                out, batch_first=True, padding_value=0.0, total_length=n_steps
            )
        estimate = self.readout(hidden)[..., 0]
        if lengths is not None:
            inside = torch.arange(n_steps, device=x.device)[None, :] < lengths.to(x.device)[:, None]
            estimate = estimate * inside
            if return_hidden:
                hidden = hidden * inside[..., None]
        return estimate, (hidden if return_hidden else None)

    def to_checkpoint(self) -> dict[str, Any]:
        return {"model_config": self.config.to_dict(), "state_dict": self.state_dict()}

    @classmethod
    def from_checkpoint(cls, payload: dict[str, Any]) -> PRNN:
        model = cls(PRNNConfig(**payload["model_config"]))
        model.load_state_dict(payload["state_dict"])
        return model


def masked_mse(estimate: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Σ over valid steps of (P̂ − P)² / number of valid steps, pooled over the batch."""
    weight = mask.to(estimate.dtype)
    return ((estimate - target) ** 2 * weight).sum() / weight.sum().clamp_min(1.0)
