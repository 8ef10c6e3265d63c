"""IZRNN: the PRNN's period estimate becomes the ZRNN's tonic cue (reference rhythm.md §10).

The original wiring (``mode: original``) is I_cc(t) = 0.1 / P̂(t) from t = 0, unclipped and
unsmoothed, and the ZRNN never sees the pulses. That cue is unbounded when P̂ -> 0 or turns
negative, and it is on before the PRNN has heard two pulses (when P̂ is undefined). The
default (``mode: bounded``) fixes both and can feed the pulses too:

* ``clip_to``: P̂ is clipped to the PRNN's training period range (``prnn``), the ZRNN's
  (``zrnn``) or not at all (``none``), so the cue stays in [scale/max, scale/min];
* ``gate_pulses``: the cue is 0 (what the ZRNN saw before trial onset in training) until the
  PRNN has heard that many pulses;
* ``smoothing_s``: optional first-order low-pass of P̂ (time constant), restarted at the gate;
* ``feed_pulses``: the ZRNN also receives the pulse train on its stimulus input, as in its own
  training; the original feeds zeros.

Timing is causal: the ZRNN step i uses the estimate of the last PRNN step completed before i
begins (a zero-order hold on the PRNN grid). Everything is differentiable in the PRNN and
ZRNN parameters, so the joint fine-tuning stage can train through the wiring.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from rnnlab.models.ctrnn import CTRNN
from rnnlab.models.prnn import PRNN

WIRING_MODES = ("bounded", "original")
CLIP_CHOICES = ("prnn", "zrnn", "none")


@dataclass(frozen=True)
class CueWiring:
    """How P̂ becomes the cue; see the module doc. Periods in seconds."""

    mode: str = "bounded"
    clip_to: str = "prnn"
    gate_pulses: int = 2
    smoothing_s: float = 0.0
    feed_pulses: bool = True

    def __post_init__(self) -> None:
        if self.mode not in WIRING_MODES:
            raise ValueError(f"CueWiring.mode = {self.mode!r}: choose one of {WIRING_MODES}")
        if self.clip_to not in CLIP_CHOICES:
            raise ValueError(f"CueWiring.clip_to = {self.clip_to!r}: choose one of {CLIP_CHOICES}")
        if self.gate_pulses < 0 or self.smoothing_s < 0:
            raise ValueError("CueWiring: gate_pulses and smoothing_s must be >= 0")

    @classmethod
    def from_params(cls, section: dict[str, Any]) -> CueWiring:
        """The ``rhythm.izrnn.wiring`` section; ``mode: original`` overrides the rest."""
        wiring = cls(**section)
        return wiring.effective()

    def effective(self) -> CueWiring:
        """The wiring actually used: the original's exact choices when ``mode == original``."""
        if self.mode == "original":
            return CueWiring("original", "none", 0, 0.0, False)
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def smooth_periods(estimate: torch.Tensor, on: torch.Tensor, alpha: float) -> torch.Tensor:
    """First-order low-pass along time of (B, T) estimates, restarted where ``on`` switches on."""
    if alpha >= 1.0:
        return estimate
    out = [estimate[:, 0]]
    for t in range(1, estimate.shape[1]):
        prev = out[-1]
        cont = on[:, t] & on[:, t - 1]
        out.append(torch.where(cont, prev + alpha * (estimate[:, t] - prev), estimate[:, t]))
    return torch.stack(out, dim=1)


class IZRNN(nn.Module):
    """PRNN -> cue -> ZRNN on the ZRNN's time grid (``ratio`` ZRNN steps per PRNN step)."""

    def __init__(
        self,
        prnn: PRNN,
        zrnn: CTRNN,
        wiring: CueWiring,
        *,
        ratio: int,
        prnn_dt_s: float,
        cue_scale: float,
        clip_range_s: tuple[float, float] | None,
    ) -> None:
        super().__init__()
        if ratio < 1:
            raise ValueError("IZRNN: ratio must be >= 1")
        self.prnn = prnn
        self.zrnn = zrnn
        self.wiring = wiring.effective()
        self.ratio = int(ratio)
        self.prnn_dt_s = float(prnn_dt_s)
        self.cue_scale = float(cue_scale)
        self.clip_range_s = clip_range_s if self.wiring.clip_to != "none" else None

    def delivered_period(
        self, prnn_pulses: torch.Tensor, true_period_s: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """P̂ on the PRNN grid and the period the cue encodes on the ZRNN grid.

        Returns ``estimate`` (B, T_p) raw PRNN output, ``period`` (B, T_z) the period behind
        the delivered cue (NaN where the cue is gated off) and ``cue`` (B, T_z). With
        ``true_period_s`` (B,) the same gating/hold is applied to the true period instead of
        P̂ (the calibration control: the ZRNN's own error with a perfect estimate). The gate
        counts the pulses themselves, so the control skips the PRNN: its ``estimate`` is NaN.
        """
        onset = torch.diff(prnn_pulses, dim=1, prepend=torch.zeros_like(prnn_pulses[:, :1])) > 0
        heard = torch.cumsum(onset.to(torch.int64), dim=1)
        on = heard >= self.wiring.gate_pulses
        if true_period_s is None:
            estimate, _ = self.prnn(prnn_pulses)
            period = estimate
        else:
            dtype = next(self.prnn.parameters()).dtype  # what the PRNN's estimate would carry
            period = true_period_s.to(dtype).reshape(-1, 1).expand(onset.shape)
            estimate = torch.full_like(period, float("nan"))
        if self.clip_range_s is not None:
            period = period.clamp(self.clip_range_s[0], self.clip_range_s[1])
        if self.wiring.smoothing_s > 0:
            period = smooth_periods(period, on, self.prnn_dt_s / self.wiring.smoothing_s)
        # causal hold: ZRNN step i uses the PRNN step completed before i begins
        if self.wiring.gate_pulses == 0:
            first = period[:, :1]  # the original: the estimate is used from t = 0
            first_on = torch.ones_like(on[:, :1])
        else:
            first = torch.full_like(period[:, :1], float("nan"))
            first_on = torch.zeros_like(on[:, :1])
        held = torch.cat([first, period[:, :-1]], dim=1)
        held_on = torch.cat([first_on, on[:, :-1]], dim=1)
        period_z = torch.repeat_interleave(held, self.ratio, dim=1)
        on_z = torch.repeat_interleave(held_on, self.ratio, dim=1)
        safe = torch.where(on_z, period_z, torch.ones_like(period_z))
        cue = torch.where(on_z, self.cue_scale / safe, torch.zeros_like(period_z))
        period_z = torch.where(on_z, period_z, torch.full_like(period_z, float("nan")))
        return {"estimate": estimate, "period": period_z, "cue": cue}

    def forward(
        self,
        prnn_pulses: torch.Tensor,
        zrnn_pulses: torch.Tensor,
        *,
        noise_generator: torch.Generator | None = None,
        true_period_s: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """ZRNN ``output`` (B, T_z), ``rates`` (B, T_z, N) and the cue record."""
        cue = self.delivered_period(prnn_pulses, true_period_s)
        n_steps = cue["cue"].shape[1]
        if zrnn_pulses.shape[1] != n_steps:
            raise ValueError(
                f"IZRNN: ZRNN pulses have {zrnn_pulses.shape[1]} steps, expected {n_steps}"
            )
        stim = zrnn_pulses if self.wiring.feed_pulses else torch.zeros_like(zrnn_pulses)
        inputs = torch.stack([stim.to(cue["cue"].dtype), cue["cue"]], dim=-1)
        out, rates = self.zrnn(inputs, noise_generator=noise_generator)
        return dict(cue, output=out[..., 0], rates=rates)
