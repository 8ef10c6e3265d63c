"""The ZRNN of Zemlianova, Bose & Rinzel 2024 as a :class:`~rnnlab.models.ctrnn.CTRNN`.

rhythm.md §2: N units (80 % E / 20 % I), τ = 10 ms, dt = 1 ms, ReLU rates, Dale's law by
presynaptic column through W = |W̃|·D, no autapses, Song-scaled recurrent noise σ_rec and
rectified input noise σ_in in training, Xavier init with recurrent gain 0.1. The original's
frozen ~50 % zero pattern (ReLU at init + |W|) is reproduced when
``frozen_zero_init: true``; set it false for dense trainable connectivity.
"""

from __future__ import annotations

from typing import Any

import torch

from rnnlab.models.ctrnn import CTRNN, CTRNNConfig

ZRNN_FIXED: dict[str, Any] = {
    "n_input": 2,
    "n_output": 1,
    "activation": "relu",
    "dale": "reparam",
    "autapses": False,
    "noise_scaling": "song",
    "noise_placement": "pre",
    "input_rectify": True,
    "learn_x0": False,
    "rec_init": "xavier",
    "in_init": "xavier",
    "out_init": "xavier",
}


def zrnn_config(model_params: dict[str, Any], dt_s: float) -> CTRNNConfig:
    """Build the CTRNN config from the ``rhythm.zrnn.model`` params section."""
    return CTRNNConfig(
        n_hidden=int(model_params["n_hidden"]),
        dt=float(dt_s),
        tau=float(model_params["tau_s"]),
        e_fraction=float(model_params["e_fraction"]),
        sigma_rec=float(model_params["sigma_rec"]),
        sigma_in=float(model_params["sigma_in"]),
        rec_gain=float(model_params["rec_init_gain"]),
        frozen_zero_init=bool(model_params["frozen_zero_init"]),
        **ZRNN_FIXED,
    )


def build_zrnn(model_params: dict[str, Any], dt_s: float, seed: int) -> CTRNN:
    """A freshly initialised ZRNN; every draw from a generator seeded with ``seed``."""
    return CTRNN(zrnn_config(model_params, dt_s), generator=torch.Generator().manual_seed(seed))
