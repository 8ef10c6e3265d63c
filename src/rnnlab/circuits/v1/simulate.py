"""Seeded simulations of the V1 layer-5 model, all stimulus directions at once (B6, B14).

One simulation draws its type weights, connectivity, initial rates and receptive fields from
its own child of ``SeedSequence(seed)`` (so simulation k is the same whatever the number of
simulations), then integrates every direction in one batched loop. Learned weights are never
carried across directions or simulations (as the original). Instead of the full weight matrix
at every step (3.2 GB per direction in the original) it keeps:

* rates averaged in non-overlapping bins of ``bin_steps`` steps, (S, D, B, N);
* block-mean weights per bin, (S, D, B, 4, 4) [post, pre], tracked exactly and cheaply
  because every update is rank one;
* block mean/std of the initial matrix and of the time-mean matrix over the final
  ``final_weight_bins`` bins (the original's "final" weights).

Selectivity, QC and tables are computed from these arrays in ``rnnlab.analysis.v1_selectivity``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rnnlab.circuits.v1 import connectivity as conn
from rnnlab.circuits.v1 import dynamics, plasticity, stimulus

log = logging.getLogger(__name__)
UPDATE_CHUNK = 64  # rank-one weight updates folded into W per matrix product


@dataclass
class V1Run:
    """Arrays of a set of simulations (see module docstring for shapes)."""

    n_per_population: np.ndarray
    directions_deg: np.ndarray
    bin_steps: int
    n_steps: int
    steps_before_learning: int
    rates_binned: np.ndarray  # (S, D, B, N)
    block_mean_time: np.ndarray  # (S, D, B, 4, 4) [post, pre]
    w_initial_mean: np.ndarray  # (S, 4, 4)
    w_initial_std: np.ndarray  # (S, 4, 4)
    w_final_mean: np.ndarray  # (S, D, 4, 4)
    w_final_std: np.ndarray  # (S, D, 4, 4)
    w_delta_mean: np.ndarray  # (S, D, 4, 4) block mean of W_final − W_initial
    w_delta_std: np.ndarray  # (S, D, 4, 4)
    type_weights: np.ndarray  # (S, 4, 4) [pre, post]
    eig_scale: np.ndarray  # (S,)
    seconds: float
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n_bins(self) -> int:
        return int(self.rates_binned.shape[2])

    @property
    def first_bin_step(self) -> int:
        """Step index where bin 0 starts (a leading remainder is dropped)."""
        return self.n_steps - self.n_bins * self.bin_steps


class _PendingUpdates:
    """W = W_applied + Σ_k u_k v_kᵀ with the rank-one updates applied in chunks.

    Recurrent input uses the pending factors exactly (W r = W_applied r + U (Vᵀ r)); every
    ``chunk`` updates they are folded into W by one batched matrix product, which is far
    cheaper than an N × N outer product per step. The time-mean of W over the final window
    [final_start, T) is n·W(final_start − 1) + Σ_{s ≥ final_start} (T − s) u_s v_sᵀ, folded the
    same way, so no per-step copy of W is ever made.
    """

    def __init__(self, w: np.ndarray, total_steps: int, final_start: int, chunk: int) -> None:
        n_dir, n, _ = w.shape
        self.w = w
        self.total_steps = total_steps
        self.final_start = final_start
        self.u = np.zeros((n_dir, chunk, n))
        self.v = np.zeros((n_dir, chunk, n))
        self.age_weight = np.zeros(chunk)
        self.k = 0
        self.final_sum: np.ndarray | None = None

    def recurrent(self, r: np.ndarray) -> np.ndarray:
        out = np.matmul(self.w, r[..., None])[..., 0]
        if self.k:
            u, v = self.u[:, : self.k], self.v[:, : self.k]
            out += np.matmul((v @ r[..., None])[..., 0][:, None, :], u)[:, 0]
        return out

    def add(self, u: np.ndarray, v: np.ndarray, step: int) -> None:
        self.u[:, self.k] = u
        self.v[:, self.k] = v
        self.age_weight[self.k] = max(self.total_steps - step, 0) if step >= self.final_start else 0
        self.k += 1
        if self.k == self.u.shape[1]:
            self.flush()

    def flush(self) -> None:
        if not self.k:
            return
        u, v = self.u[:, : self.k], self.v[:, : self.k]
        self.w += np.matmul(u.transpose(0, 2, 1), v)
        if self.final_sum is not None and np.any(self.age_weight[: self.k]):
            weighted = u * self.age_weight[None, : self.k, None]
            self.final_sum += np.matmul(weighted.transpose(0, 2, 1), v)
        self.k = 0

    def snapshot(self) -> None:
        """Start the final window: W(final_start − 1) counted for every window step."""
        self.flush()
        self.final_sum = self.w * float(self.total_steps - self.final_start)

    def final_mean(self) -> np.ndarray:
        self.flush()
        if self.final_sum is None:  # the window covers the whole run
            raise ValueError("final_weight_bins must leave at least one step before the window")
        return self.final_sum / float(self.total_steps - self.final_start)


def n_steps(dynamics_params: Mapping[str, Any]) -> int:
    """tsteps = int(duration_tau · τ / Δt) (the original's Ttau · tau / delta_t)."""
    d = dynamics_params
    return int(round(float(d["duration_tau"]) * float(d["tau"]) / float(d["dt"])))


def simulate_one(params: Mapping[str, Any], seed_seq: np.random.SeedSequence) -> dict[str, Any]:
    """One simulation (all directions) from a ``simulate`` params section."""
    net, dyn, stim = params["network"], params["dynamics"], params["stimulus"]
    plast, ana = params["plasticity"], params["analysis"]
    legacy = bool(params["legacy"])
    rng = np.random.default_rng(seed_seq)
    n_pop = np.asarray(net["n_per_population"], dtype=np.int64)
    pop = conn.population_of_neuron(n_pop)
    starts = conn.population_starts(n_pop)
    n_total = int(n_pop.sum())

    w_type = conn.sample_type_weights(
        net["w_target"], plast["neurons"], float(net["type_weight_rel_sd"]), rng
    )
    w0 = conn.fixed_indegree_matrix(n_pop, net["prob"], w_type, float(net["w_noise"]), rng)
    w0, scale = conn.normalise(w0, net["normalisation"])
    r0 = rng.uniform(0.0, 1.0, n_total)
    a, b = stimulus.receptive_fields(n_total, rng)

    dirs = np.asarray(stim["directions_deg"], dtype=np.float64)
    n_dir = dirs.size
    profile = stimulus.spatial_profile(
        a,
        b,
        pop,
        stim["amplitude"],
        dirs,
        float(stim["spatial_frequency"]),
        float(stim["spatial_phase"]),
    )
    dt, tau = float(dyn["dt"]), float(dyn["tau"])
    floor, ceiling = float(dyn["rate_floor"]), float(dyn["rate_ceiling"])
    integrator = dyn["integrator"]
    total_steps = n_steps(dyn)
    bin_steps = int(ana["bin_steps"])
    n_bins = total_steps // bin_steps
    if n_bins < 1:
        raise ValueError(f"run of {total_steps} steps is shorter than one bin of {bin_steps}")
    first = total_steps - n_bins * bin_steps
    final_start = total_steps - min(int(ana["final_weight_bins"]), n_bins) * bin_steps

    rule = plast["rule"]
    if rule not in plasticity.RULES:
        raise ValueError(f"rule must be one of {plasticity.RULES}, got {rule!r}")
    learn_from = int(plast["steps_before_learning"])
    c_learn = dt / float(plast["tau_learn"])
    modes = plasticity.phase_modes(plast["phase_pattern"], int(plast["steps_per_mode"]))
    rows = {m: plasticity.row_mask(m, plast["neurons"], n_pop, legacy) for m in sorted(set(modes))}
    cols = plasticity.col_mask(plast["neurons"], n_pop) * plasticity.presynaptic_sign(
        rule, n_pop, legacy
    )
    window = plasticity.RateWindow(
        # the trajectory has total_steps + 1 samples: r0 and one per step
        plasticity.window_length(float(plast["tau_threshold"]), dt, total_steps + 1),
        (n_dir, n_total),
        dt,
        float(plast["tau_threshold"]),
        plast["threshold_quadrature"],
    )
    size = np.outer(n_pop, n_pop).astype(np.float64)

    r = np.tile(r0, (n_dir, 1))
    window.push(r)  # the initial rates are the window's first sample, as in the original
    w = np.tile(w0, (n_dir, 1, 1))
    lowrank = _PendingUpdates(w, total_steps, final_start, chunk=UPDATE_CHUNK)
    init_mean, init_std = conn.block_stats(w0, n_pop)
    block_sum = np.tile(init_mean * size, (n_dir, 1, 1))
    rates_binned = np.zeros((n_dir, n_bins, n_total))
    block_time = np.zeros((n_dir, n_bins, 4, 4))
    rate_acc = np.zeros((n_dir, n_total))
    block_acc = np.zeros((n_dir, 4, 4))
    c_all = stimulus.temporal_factor(
        np.arange(total_steps), [bool(s) for s in stim["steady"]], float(stim["temporal_frequency"])
    )

    with np.errstate(all="ignore"):
        for t in range(total_steps):
            inp = profile * c_all[t][pop]
            r = dynamics.step(r, lowrank.recurrent, inp, dt, tau, floor, ceiling, integrator)
            window.push(r)
            mode = modes[t % len(modes)]
            if rule != "none" and t >= learn_from and mode != "rest":
                u, v = plasticity.rank_one_factors(
                    rule, window, r, inp, lowrank.recurrent, plast["presynaptic"]
                )
                u = u * (c_learn * rows[mode])
                v = v * cols
                lowrank.add(u, v, t)
                bu = np.add.reduceat(u, starts, axis=1)
                bv = np.add.reduceat(v, starts, axis=1)
                block_sum += bu[:, :, None] * bv[:, None, :]
            if t == final_start - 1:
                lowrank.snapshot()
            if t >= first:
                rate_acc += r
                block_acc += block_sum / size
                k = t - first + 1
                if k % bin_steps == 0:
                    j = k // bin_steps - 1
                    rates_binned[:, j] = rate_acc / bin_steps
                    block_time[:, j] = block_acc / bin_steps
                    rate_acc[:] = 0.0
                    block_acc[:] = 0.0
        w_final = lowrank.final_mean()
        final_mean, final_std = conn.block_stats(w_final, n_pop)
        delta_mean, delta_std = conn.block_stats(w_final - w0[None], n_pop)
    return {
        "rates_binned": rates_binned,
        "block_mean_time": block_time,
        "w_initial_mean": init_mean,
        "w_initial_std": init_std,
        "w_final_mean": final_mean,
        "w_final_std": final_std,
        "w_delta_mean": delta_mean,
        "w_delta_std": delta_std,
        "type_weights": w_type,
        "eig_scale": scale,
    }


def simulate(params: Mapping[str, Any]) -> V1Run:
    """``n_simulations`` seeded simulations from a ``v1.simulate`` params section."""
    start = time.perf_counter()
    n_sims = int(params["n_simulations"])
    if n_sims < 1:
        raise ValueError("n_simulations must be >= 1")
    children = np.random.SeedSequence(int(params["seed"])).spawn(n_sims)
    runs = []
    for k, child in enumerate(children):
        t0 = time.perf_counter()
        runs.append(simulate_one(params, child))
        log.info("simulation %d/%d: %.1f s", k + 1, n_sims, time.perf_counter() - t0)
    stacked = {key: np.stack([run[key] for run in runs]) for key in runs[0]}
    dyn = params["dynamics"]
    return V1Run(
        n_per_population=np.asarray(params["network"]["n_per_population"], dtype=np.int64),
        directions_deg=np.asarray(params["stimulus"]["directions_deg"], dtype=np.float64),
        bin_steps=int(params["analysis"]["bin_steps"]),
        n_steps=n_steps(dyn),
        steps_before_learning=int(params["plasticity"]["steps_before_learning"]),
        seconds=time.perf_counter() - start,
        **stacked,
    )
