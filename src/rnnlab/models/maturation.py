"""The maturation-study network: leaky softplus RNN (CTRNN core) or GRU, sigmoid readout.

Paper configuration (maturation.md §2): α = dt/τ = 0.2, softplus, recurrent noise inside
the nonlinearity with per-step sd σ_rec·sqrt(2/α), input noise sd σ_x·sqrt(2/α) on every
input channel during training, W_rec = 0.5 × random orthogonal (autapses allowed),
W_in ~ N(0, 1/n_input), zero biases, 9 sigmoid outputs.

Difference from the original, kept on purpose: CTRNN leaks the *pre-activation* state,
x ← (1−α)x + α(W r + W_in u + b + ξ), r = f(x), while the original leaks the rate,
r ← (1−α)r + α f(·). Both are standard discretisations of a leaky rate unit; with
x₀ = 0 the initial softplus rate is log 2 rather than 0 (the original's start-up
transient is therefore different). W_out is Glorot-normal, not Glorot-uniform.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from rnnlab.models.ctrnn import CTRNN, CTRNNConfig
from rnnlab.tasks.maturation import N_INPUT, N_OUTPUT


@dataclass
class MaturationNetConfig:
    """The ``maturation.model`` params section as plain data (stored in checkpoints)."""

    rnn_type: str = "leaky"  # leaky | gru
    n_hidden: int = 256
    activation: str = "softplus"
    rec_init: str = "randortho"  # randortho | diag | randgauss
    rec_gain: float = 0.5
    sigma_rec: float = 0.05
    sigma_x: float = 0.01
    dt_ms: float = 20.0
    tau_ms: float = 100.0

    def __post_init__(self) -> None:
        if self.rnn_type not in ("leaky", "gru"):
            raise ValueError(f"rnn_type must be 'leaky' or 'gru', got {self.rnn_type!r}")
        if self.rec_init not in ("randortho", "diag", "randgauss"):
            raise ValueError(f"rec_init must be randortho/diag/randgauss, got {self.rec_init!r}")
        if not 0 < self.dt_ms <= self.tau_ms:
            raise ValueError(f"need 0 < dt_ms <= tau_ms, got {self.dt_ms}, {self.tau_ms}")

    @property
    def alpha(self) -> float:
        return self.dt_ms / self.tau_ms

    @property
    def input_noise_sd(self) -> float:
        """Per-step input-noise sd, σ_x·sqrt(2/α) (0.0316 at the paper's values)."""
        return self.sigma_x * math.sqrt(2.0 / self.alpha)


class MaturationNet(nn.Module):
    """Recurrent core + sigmoid readout; ``forward`` returns (outputs in (0, 1), rates)."""

    def __init__(self, config: MaturationNetConfig, *, seed: int = 0) -> None:
        super().__init__()
        self.config = config
        gen = torch.Generator().manual_seed(int(seed))
        if config.rnn_type == "leaky":
            init = {"randortho": "orthogonal", "diag": "zero", "randgauss": "normal"}
            core_cfg = CTRNNConfig(
                n_input=N_INPUT,
                n_hidden=config.n_hidden,
                n_output=N_OUTPUT,
                dt=config.dt_ms / 1000.0,
                tau=config.tau_ms / 1000.0,
                activation=config.activation,  # type: ignore[arg-type]
                autapses=True,
                sigma_rec=config.sigma_rec,
                # CTRNN input-noise sd is sqrt(2α)·σ_in; the original's is σ_x·sqrt(2/α)
                sigma_in=config.sigma_x / config.alpha,
                noise_scaling="song",
                noise_placement="pre",
                rec_init=init[config.rec_init],
                rec_gain=config.rec_gain,
                in_init="normal",
                out_init="xavier",
            )
            self.core = CTRNN(core_cfg, generator=gen)
            if config.rec_init == "diag":
                with torch.no_grad():
                    self.core.w_rec.copy_(config.rec_gain * torch.eye(config.n_hidden))
        else:
            self.gru = nn.GRU(N_INPUT, config.n_hidden, batch_first=True)
            self.readout = nn.Linear(config.n_hidden, N_OUTPUT)
            with torch.no_grad():
                for p in list(self.gru.parameters()) + list(self.readout.parameters()):
                    bound = 1.0 / math.sqrt(config.n_hidden)
                    p.copy_((torch.rand(p.shape, generator=gen) * 2 - 1) * bound)

    def forward(
        self, inputs: torch.Tensor, *, noise_generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """inputs (B, T, 15) -> sigmoid outputs (B, T, 9), rates (B, T, N).

        Noise is drawn only with a ``noise_generator``: the leaky core adds recurrent
        noise always and input noise in training mode (analyses: ``eval()`` → recurrent
        noise only, as the original's test mode). The GRU has no recurrent noise, so it
        takes input noise whenever a generator is given (repeats must differ).
        """
        if self.config.rnn_type == "leaky":
            out, rates = self.core(inputs, noise_generator=noise_generator)
            return torch.sigmoid(out), rates
        if noise_generator is not None and self.config.sigma_x > 0:
            eta = torch.randn(inputs.shape, generator=noise_generator, dtype=inputs.dtype)
            inputs = inputs + eta * self.config.input_noise_sd
        rates, _ = self.gru(inputs)
        return torch.sigmoid(self.readout(rates)), rates

    def to_checkpoint(self) -> dict[str, Any]:
        """Compact: config + learned parameters only (masks/constants follow from the config)."""
        params = {k: v.detach().cpu().clone() for k, v in self.named_parameters()}
        return {"net_config": asdict(self.config), "state_dict": params}

    @classmethod
    def from_checkpoint(cls, payload: dict[str, Any]) -> MaturationNet:
        net = cls(MaturationNetConfig(**payload["net_config"]))
        missing, unexpected = net.load_state_dict(payload["state_dict"], strict=False)
        params = {k for k, _ in net.named_parameters()}
        buffers = {k for k, _ in net.named_buffers()}
        unexpected = [k for k in unexpected if k not in buffers]
        if unexpected or params & set(missing):
            raise ValueError(
                f"checkpoint does not fit the network: missing {sorted(params & set(missing))}, "
                f"unexpected {sorted(unexpected)}"
            )
        return net


def masked_lsq(outputs: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The original's lsq cost: mean over (B, T, 9) of (mask·(y − ŷ))² (mask before squaring)."""
    return ((mask * (targets - outputs)) ** 2).mean()
