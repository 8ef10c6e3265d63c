"""One continuous-time rate RNN for every study (reference circuits.md part A, rhythm.md §2).

Euler-discretised leaky dynamics, over a whole sequence in one call::

    x_{t+1} = (1 − α) x_t + α (W_rec r_t + W_in u_t + b + ξ_t),   r_t = f(x_t),   α = dt / τ
    y_t     = W_out r_{t+1} + b_out            (readout of the post-update rates)

Options cover the published variants:

- activation: relu, softplus, tanh, sigmoid, retanh (max(tanh, 0)), power (relu(x)²);
- Dale's law by presynaptic column, either *reparametrised* (W = |W̃| · D, the ZRNN and
  Song et al. 2016 choice) or *projected* (W̃ sign-clamped after each optimiser step, nn4n);
  with ``dale_io`` also on the input (W_in ≥ 0) and readout (columns signed by unit type),
  as nn4n's E/I masks and Song's W_out = [W]₊·D do;
- masks: sparsity (fixed zeros), plasticity (gradient multipliers, 0 freezes); all masks
  are registered buffers, so they live in the state dict and move with the module;
- noise: recurrent noise inside the bracket with the Song ``sqrt(2/α)·σ`` scaling (per-step
  state noise ``sqrt(2α)·σ``) or the nn4n ``σ`` scaling (per-step ``α·σ``), added before the
  nonlinearity (to x); or after it (to r) with std ``sqrt(2α)·σ`` (Song) or ``σ`` (nn4n);
  input noise ``u ← relu(u + η)`` during training as in the ZRNN;
- learnable or zero initial state; scalar or per-unit τ.

Constant tensors (effective weights, α) are computed once per forward call, not per step;
the input drive of all steps (with bias and noise) is one GEMM, the readout another; the
noise is drawn in parallel chunks (:mod:`rnnlab.models.noise`); the recurrence itself runs
in a hand-written BPTT (:mod:`rnnlab.models.recurrence`) whose weight gradient is one GEMM
over all steps.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from rnnlab.models.noise import standard_normal
from rnnlab.models.recurrence import leaky_recurrence

Activation = Literal["relu", "softplus", "tanh", "sigmoid", "retanh", "power"]
ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "relu": torch.relu,
    "softplus": nn.functional.softplus,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "retanh": lambda x: torch.relu(torch.tanh(x)),
    "power": lambda x: torch.relu(x) ** 2,
}
NUMPY_ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "relu": lambda x: np.maximum(x, 0.0),
    "softplus": lambda x: np.logaddexp(0.0, x),
    "tanh": np.tanh,
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "retanh": lambda x: np.maximum(np.tanh(x), 0.0),
    "power": lambda x: np.maximum(x, 0.0) ** 2,
}


@dataclass
class CTRNNConfig:
    """Everything that defines a :class:`CTRNN`; plain data, stored in checkpoints."""

    n_input: int
    n_hidden: int
    n_output: int
    dt: float = 0.001
    tau: float | list[float] = 0.01
    activation: Activation = "relu"
    dale: Literal["none", "reparam", "project"] = "none"
    e_fraction: float = 0.8
    dale_io: bool = False
    autapses: bool = False
    sigma_rec: float = 0.0
    sigma_in: float = 0.0
    noise_scaling: Literal["song", "nn4n"] = "song"
    noise_placement: Literal["pre", "post"] = "pre"
    input_rectify: bool = False
    learn_x0: bool = False
    rec_bias: bool = True
    out_bias: bool = True
    rec_init: Literal["xavier", "normal", "uniform", "orthogonal", "zero"] = "xavier"
    rec_gain: float = 1.0
    in_init: Literal["xavier", "normal", "uniform", "zero"] = "xavier"
    out_init: Literal["xavier", "normal", "uniform", "zero"] = "xavier"
    rec_density: float = 1.0
    frozen_zero_init: bool = False

    def __post_init__(self) -> None:
        for name in ("n_input", "n_hidden", "n_output"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"CTRNNConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.dt <= 0:
            raise ValueError(f"CTRNNConfig.dt must be > 0, got {self.dt}")
        taus = np.atleast_1d(np.asarray(self.tau, dtype=float))
        if np.any(taus <= 0):
            raise ValueError(f"CTRNNConfig.tau must be > 0 everywhere, got min {taus.min()}")
        if taus.size not in (1, self.n_hidden):
            raise ValueError(
                f"CTRNNConfig.tau must be a scalar or have n_hidden={self.n_hidden} entries, "
                f"got {taus.size}"
            )
        if np.any(self.dt / taus > 1):
            raise ValueError(
                f"CTRNNConfig: alpha = dt/tau must be <= 1 (dt={self.dt}, min tau={taus.min()})"
            )
        if not 0.0 <= self.e_fraction <= 1.0:
            raise ValueError(f"CTRNNConfig.e_fraction must be in [0, 1], got {self.e_fraction}")
        if not 0.0 < self.rec_density <= 1.0:
            raise ValueError(f"CTRNNConfig.rec_density must be in (0, 1], got {self.rec_density}")
        if self.sigma_rec < 0 or self.sigma_in < 0:
            raise ValueError("CTRNNConfig: sigma_rec and sigma_in must be >= 0")
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"CTRNNConfig.activation must be one of {sorted(ACTIVATIONS)}, "
                f"got {self.activation!r}"
            )
        choices = {
            "dale": ("none", "reparam", "project"),
            "noise_scaling": ("song", "nn4n"),
            "noise_placement": ("pre", "post"),
            "rec_init": ("xavier", "normal", "uniform", "orthogonal", "zero"),
            "in_init": ("xavier", "normal", "uniform", "zero"),
            "out_init": ("xavier", "normal", "uniform", "zero"),
        }
        for key, allowed in choices.items():
            if getattr(self, key) not in allowed:
                raise ValueError(
                    f"CTRNNConfig.{key} must be one of {allowed}, got {getattr(self, key)!r}"
                )

    @property
    def n_excitatory(self) -> int:
        return int(round(self.e_fraction * self.n_hidden))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def dale_signs(n_hidden: int, e_fraction: float) -> torch.Tensor:
    """+1 for the first ``round(e_fraction·N)`` (E) units, −1 for the rest (I)."""
    n_e = int(round(e_fraction * n_hidden))
    signs = torch.ones(n_hidden)
    signs[n_e:] = -1.0
    return signs


def _init_matrix(kind: str, shape: tuple[int, int], gain: float, gen: torch.Generator):
    out_dim, in_dim = shape
    if kind == "zero":
        return torch.zeros(shape)
    if kind == "xavier":
        std = gain * math.sqrt(2.0 / (in_dim + out_dim))
        return torch.randn(shape, generator=gen) * std
    if kind == "normal":
        return torch.randn(shape, generator=gen) * gain / math.sqrt(in_dim)
    if kind == "uniform":
        bound = gain / math.sqrt(in_dim)
        return (torch.rand(shape, generator=gen) * 2 - 1) * bound
    if kind == "orthogonal":
        a = torch.randn(max(shape), min(shape), generator=gen, dtype=torch.float64)
        q, r = torch.linalg.qr(a)
        q = q * torch.sign(torch.diagonal(r))
        q = q if shape[0] >= shape[1] else q.T
        return (gain * q[: shape[0], : shape[1]]).to(torch.float32)
    raise ValueError(f"unknown init {kind!r}")


class CTRNN(nn.Module):
    """Leaky continuous-time rate RNN; batch-first sequences, whole sequence per call.

    Parameters are created from ``config`` with draws from ``generator`` (seeded by the
    caller). ``masks`` may give ``rec``/``in``/``out`` sparsity masks and
    ``rec_plasticity``/``in_plasticity``/``out_plasticity`` gradient multipliers; they
    are copied into buffers, never kept by reference.
    """

    def __init__(
        self,
        config: CTRNNConfig,
        *,
        generator: torch.Generator | None = None,
        masks: dict[str, torch.Tensor | np.ndarray] | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        gen = generator if generator is not None else torch.Generator().manual_seed(0)
        n_in, n, n_out = config.n_input, config.n_hidden, config.n_output
        masks = dict(masks or {})
        unknown = set(masks) - {
            "rec",
            "in",
            "out",
            "rec_plasticity",
            "in_plasticity",
            "out_plasticity",
        }
        if unknown:
            raise ValueError(f"CTRNN: unknown mask name(s) {sorted(unknown)}")
        self.act = ACTIVATIONS[config.activation]

        w_rec = _init_matrix(config.rec_init, (n, n), config.rec_gain, gen)
        rec_mask = torch.ones(n, n)
        if config.rec_density < 1.0:
            rec_mask = (torch.rand(n, n, generator=gen) < config.rec_density).float()
        if config.frozen_zero_init:
            # ZRNN (rhythm.md §2.3): ReLU at init + |W| in the forward pass leaves the
            # non-positive half of the entries at exactly 0 with zero gradient forever.
            rec_mask = rec_mask * (w_rec > 0).float()
            w_rec = torch.relu(w_rec)
        if not config.autapses:
            rec_mask.fill_diagonal_(0.0)
        self.w_rec = nn.Parameter(w_rec)
        self.w_in = nn.Parameter(_init_matrix(config.in_init, (n, n_in), 1.0, gen))
        self.w_out = nn.Parameter(_init_matrix(config.out_init, (n_out, n), 1.0, gen))
        self.b_rec = nn.Parameter(torch.zeros(n), requires_grad=config.rec_bias)
        self.b_out = nn.Parameter(torch.zeros(n_out), requires_grad=config.out_bias)
        self.x0 = nn.Parameter(torch.zeros(n), requires_grad=config.learn_x0)

        shapes = {"rec": (n, n), "in": (n, n_in), "out": (n_out, n)}
        for name, shape in shapes.items():
            given = masks.get(name)
            base = rec_mask if name == "rec" else torch.ones(shape)
            self.register_buffer(f"{name}_mask", base * self._as_mask(given, shape, name))
            plast = masks.get(f"{name}_plasticity")
            self.register_buffer(
                f"{name}_plasticity", self._as_mask(plast, shape, f"{name}_plasticity")
            )
        self.register_buffer("signs", dale_signs(n, config.e_fraction))
        taus = torch.as_tensor(config.tau, dtype=torch.float32).reshape(-1)
        self.register_buffer("alpha", (config.dt / taus).expand(n).clone())

        if config.dale == "project":
            self.project_()
        for pname, mname in (("w_rec", "rec"), ("w_in", "in"), ("w_out", "out")):
            param = getattr(self, pname)
            param.register_hook(self._plasticity_hook(f"{mname}_plasticity"))

    @staticmethod
    def _as_mask(given: Any, shape: tuple[int, int], name: str) -> torch.Tensor:
        if given is None:
            return torch.ones(shape)
        m = torch.as_tensor(np.array(given, copy=True), dtype=torch.float32).clone()
        if tuple(m.shape) != shape:
            raise ValueError(f"CTRNN: mask {name!r} must have shape {shape}, got {tuple(m.shape)}")
        if not torch.isfinite(m).all():
            raise ValueError(f"CTRNN: mask {name!r} has non-finite entries")
        return m

    def _plasticity_hook(self, buffer_name: str) -> Callable[[torch.Tensor], torch.Tensor]:
        def hook(grad: torch.Tensor) -> torch.Tensor:
            return grad * getattr(self, buffer_name)

        return hook

    # --- effective weights -------------------------------------------------------------
    def effective_weights(self) -> dict[str, torch.Tensor]:
        """The weights the dynamics use, with masks and Dale's law applied."""
        w_rec = self.w_rec * self.rec_mask
        w_in = self.w_in * self.in_mask
        w_out = self.w_out * self.out_mask
        if self.config.dale == "reparam":
            w_rec = w_rec.abs() * self.signs.unsqueeze(0)
            if self.config.dale_io:
                w_in = w_in.abs()
                w_out = w_out.abs() * self.signs.unsqueeze(0)
        return {"rec": w_rec, "in": w_in, "out": w_out}

    @torch.no_grad()
    def project_(self) -> None:
        """Projection step for ``dale='project'``: clamp each column to its sign; re-apply masks.

        Call after every optimiser step (the trainers do). A no-op for other Dale modes
        except that masked entries are zeroed, which keeps them exactly 0.
        """
        self.w_rec.mul_(self.rec_mask)
        self.w_in.mul_(self.in_mask)
        self.w_out.mul_(self.out_mask)
        if self.config.dale == "project":
            signs = self.signs.unsqueeze(0)
            self.w_rec.copy_(torch.clamp(self.w_rec * signs, min=0.0) * signs)
            if self.config.dale_io:
                self.w_in.clamp_(min=0.0)
                self.w_out.copy_(torch.clamp(self.w_out * signs, min=0.0) * signs)

    # --- dynamics ----------------------------------------------------------------------
    def _noise_std_inside(self) -> torch.Tensor:
        """Std of ξ inside the α-bracket, per unit (pre-activation noise)."""
        if self.config.noise_scaling == "song":
            return torch.sqrt(2.0 / self.alpha) * self.config.sigma_rec
        return torch.full_like(self.alpha, self.config.sigma_rec)

    def _noise_std_post(self) -> torch.Tensor:
        """Std of the noise added to the rates (post-activation noise), per unit."""
        if self.config.noise_scaling == "song":
            return torch.sqrt(2.0 * self.alpha) * self.config.sigma_rec
        return torch.full_like(self.alpha, self.config.sigma_rec)

    def forward(
        self,
        inputs: torch.Tensor,
        *,
        noise_generator: torch.Generator | None = None,
        x0: torch.Tensor | None = None,
        return_states: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor] | tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Run the whole sequence.

        inputs: (B, T, n_input). Noise is drawn only when ``noise_generator`` is given
        (so evaluation is deterministic unless asked otherwise); input noise only in
        training mode. Returns ``(outputs (B, T, n_out), rates (B, T, N))`` and, with
        ``return_states``, the pre-activation states too.
        """
        cfg = self.config
        if inputs.dim() != 3 or inputs.shape[-1] != cfg.n_input:
            raise ValueError(
                f"CTRNN: inputs must be (batch, time, {cfg.n_input}), got {tuple(inputs.shape)}"
            )
        batch, steps, _ = inputs.shape
        weights = self.effective_weights()
        u = inputs.transpose(0, 1)  # (T, B, I)
        if self.training and noise_generator is not None and cfg.sigma_in > 0:
            eta = standard_normal(u.shape, noise_generator, device=u.device, dtype=u.dtype)
            std_in = math.sqrt(2.0 * cfg.dt / float(np.min(np.atleast_1d(cfg.tau)))) * cfg.sigma_in
            u = u + eta * std_in
            if cfg.input_rectify:
                u = torch.relu(u)
        # Input + bias (+ pre-activation noise) of all steps in one GEMM with the bias/noise
        # term as its addend. W_in^T is made contiguous so that the weight gradient is a
        # (I x TB) . (TB x N) GEMM, not a skinny transposed one (10x slower on CPU).
        n = cfg.n_hidden
        u_flat = u.reshape(steps * batch, cfg.n_input)
        w_in_t = weights["in"].t().contiguous()
        drive = None
        post_noise = None
        if noise_generator is not None and cfg.sigma_rec > 0:
            xi = standard_normal(
                (steps * batch, n), noise_generator, device=u.device, dtype=u.dtype
            )
            if cfg.noise_placement == "pre":
                # b + σ·ξ written once, then the input GEMM accumulates into it in place
                drive = torch.addcmul(self.b_rec, xi, self._noise_std_inside())
                drive.addmm_(u_flat, w_in_t)
            else:
                post_noise = xi.mul_(self._noise_std_post()).view(steps, batch, n)
        if drive is None:
            drive = torch.addmm(self.b_rec, u_flat, w_in_t)
        drive = drive.view(steps, batch, n)

        states, rates = leaky_recurrence(
            drive,
            weights["rec"].T.contiguous(),
            self.alpha,
            self.x0 if x0 is None else x0,
            cfg.activation,
            post_noise,
        )  # (T, B, N) each; hand-written BPTT (rnnlab.models.recurrence)
        outputs = (
            torch.addmm(self.b_out, rates.view(steps * batch, n), weights["out"].t().contiguous())
            .view(steps, batch, cfg.n_output)
            .transpose(0, 1)
        )
        if return_states:
            return outputs, rates.transpose(0, 1), states.transpose(0, 1)
        return outputs, rates.transpose(0, 1)

    # --- persistence ------------------------------------------------------------------
    def to_checkpoint(self) -> dict[str, Any]:
        return {"model_config": self.config.to_dict(), "state_dict": self.state_dict()}

    @classmethod
    def from_checkpoint(cls, payload: dict[str, Any]) -> CTRNN:
        model = cls(CTRNNConfig(**payload["model_config"]))
        model.load_state_dict(payload["state_dict"])
        return model


def euler_reference(
    weights: dict[str, np.ndarray],
    b_rec: np.ndarray,
    b_out: np.ndarray,
    x0: np.ndarray,
    inputs: np.ndarray,
    alpha: np.ndarray | float,
    activation: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Plain NumPy Euler integration of the same equations (noise off), for tests."""
    f = NUMPY_ACTIVATIONS[activation]
    batch, steps, _ = inputs.shape
    x = np.broadcast_to(x0, (batch, x0.shape[-1])).astype(np.float64)
    r = f(x)
    outs, rates = [], []
    for t in range(steps):
        h = r @ weights["rec"].T + inputs[:, t] @ weights["in"].T + b_rec
        x = (1 - alpha) * x + alpha * h
        r = f(x)
        rates.append(r)
        outs.append(r @ weights["out"].T + b_out)
    return np.stack(outs, 1), np.stack(rates, 1)
