"""Stage functions of the toy-circuit gallery: simulate each model, check it against its
oracle, write ``results/toys/<model>/{metrics.json, *.csv, *.npz}``; merge the four metric
files into the contract file ``results/toys/metrics.json`` (results-contract.md).

Each stage reads only its own params section (``toys.lif``, ``toys.two_unit``,
``toys.rubin``, ``toys.ring``), so editing one model's params reruns only that model.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from rnnlab.circuits.toys import lif, ring, rubin, two_unit
from rnnlab.io import atomic_write_npz, read_json, write_csv, write_json

log = logging.getLogger(__name__)

# Reference numbers (condense.md §4.2, "simulated" oracles of the published equations).
RUBIN_REFERENCE_PERIOD_S = {
    "default": 2.519,
    "no_d3": 2.590,
    "no_d2_d3": 3.027,
    "d1_half": 2.318,
}
SYNAPTIC_CONDITIONS = ("AMPA", "AMPA+NMDA", "AMPA+NMDA+GABA")


def w1_key(w1: float) -> str:
    """Metric key for a w1 value: 2.5 -> "2.5", 4.0 -> "4" (results contract)."""
    return f"{float(w1):g}"


# ---------------------------------------------------------------- LIF


def lif_cell(params: Mapping[str, Any], cell: str) -> lif.LIFParams:
    """Cell-type params = ``shared`` overlaid with the ``pyramidal`` / ``interneuron`` block."""
    return lif.LIFParams.from_mapping({**params["shared"], **params[cell]})


def lif_stage(
    params: Mapping[str, Any], metrics_path: str, fi_csv_path: str, traces_npz_path: str
) -> dict[str, Any]:
    """Stage ``toys_lif``: f–I curves vs the analytic rate; Poisson AMPA/NMDA/GABA drive."""
    start = time.perf_counter()
    dt = float(params["dt_ms"])
    fi = params["fi"]
    currents = np.linspace(float(fi["i_min_na"]), float(fi["i_max_na"]), int(fi["n"]))
    rows: list[dict[str, Any]] = []
    metrics: dict[str, Any] = {"fI_max_rel_error": 0.0, "cells": {}}
    sims: dict[str, np.ndarray] = {}
    for cell in ("pyramidal", "interneuron"):
        p = lif_cell(params, cell)
        sim, ana = lif.fi_curve(p, currents, float(fi["duration_ms"]), dt)
        sims[cell] = sim
        firing = ana > 0
        rel = np.abs(sim[firing] - ana[firing]) / ana[firing]
        silent_ok = bool(np.all(sim[~firing] == 0))
        err = float(rel.max()) if rel.size else 0.0
        metrics["fI_max_rel_error"] = max(metrics["fI_max_rel_error"], err)
        metrics["cells"][cell] = {
            "fI_max_rel_error": err,
            "silent_below_rheobase": silent_ok,
            "rheobase_na": lif.rheobase_na(p),
            "tau_m_ms": p.tau_m_ms,
            "rate_hz_at_1nA": float(lif.analytic_rate_hz(1.0, p)[0]),
        }
        for i, s, a in zip(currents, sim, ana, strict=True):
            rows.append({"cell": cell, "current_na": i, "rate_hz": s, "analytic_rate_hz": a})
        log.info("LIF %s: f-I max relative error %.2e", cell, err)
    v_grid = np.linspace(-80.0, 10.0, 181)
    pyr = lif_cell(params, "pyramidal")
    metrics["mg_block"] = {
        f"{v:g}": float(lif.mg_block(v, pyr.mg_mm)) for v in (-70, -55, -50, -20, 0)
    }

    # Poisson synaptic drive: three conditions side by side, one neuron group each
    syn = params["synaptic"]
    n = int(syn["n_neurons"])
    on = {
        "ampa": np.repeat([1.0, 1.0, 1.0], n),
        "nmda": np.repeat([0.0, 1.0, 1.0], n),
        "gaba": np.repeat([0.0, 0.0, 1.0], n),
    }
    g = {k: float(syn["g_ns"][k]) * on[k] for k in on}
    rng = np.random.default_rng(int(syn["seed"]))
    duration = float(syn["duration_ms"])
    run = lif.simulate(
        pyr,
        duration,
        dt,
        current_na=float(syn["current_na"]),
        n=3 * n,
        syn_rates_hz={k: float(v) for k, v in syn["rates_hz"].items()},
        syn_g_ns=g,
        rng=rng,
        record=True,
    )
    counts = np.array([s.size for s in run.spike_times_ms]).reshape(3, n)
    rates = counts / (duration * 1e-3)
    metrics["synaptic"] = {
        "rate_hz": {c: float(rates[k].mean()) for k, c in enumerate(SYNAPTIC_CONDITIONS)},
        "mean_v_mv": {
            c: float(run.v_mv[:, k * n : (k + 1) * n].mean())
            for k, c in enumerate(SYNAPTIC_CONDITIONS)
        },
        "mean_g_ns": {
            name: float(run.g_ns[:, j, 2 * n :].mean())
            for j, name in enumerate(("ampa", "nmda", "gaba"))
        },
    }
    neuron = np.concatenate([np.full(s.size, i) for i, s in enumerate(run.spike_times_ms)])
    spikes = np.concatenate(run.spike_times_ms) if neuron.size else np.zeros(0)
    shown = [k * n for k in range(3)]  # first neuron of each condition
    write_csv(fi_csv_path, rows, ["cell", "current_na", "rate_hz", "analytic_rate_hz"])
    atomic_write_npz(
        traces_npz_path,
        {
            "currents_na": currents,
            "rate_pyramidal_hz": sims["pyramidal"],
            "rate_interneuron_hz": sims["interneuron"],
            "v_grid_mv": v_grid,
            "mg_block": lif.mg_block(v_grid, pyr.mg_mm),
            "t_ms": run.t_ms.astype(np.float32),
            "v_mv": run.v_mv[:, shown].T.astype(np.float32),
            "g_ns": run.g_ns[:, :, shown].transpose(2, 1, 0).astype(np.float32),
            "spike_neuron": neuron.astype(np.int32),
            "spike_time_ms": spikes,
            "n_per_condition": np.array(n),
            "conditions": np.array(SYNAPTIC_CONDITIONS),
            "v_th_mv": np.array(pyr.v_th_mv),
            "v_reset_mv": np.array(pyr.v_reset_mv),
        },
    )
    metrics["seconds"] = time.perf_counter() - start
    write_json(metrics_path, metrics)
    return metrics


# ---------------------------------------------------------------- two-unit network


def two_unit_params(params: Mapping[str, Any]) -> two_unit.TwoUnitParams:
    w = params["w"]
    return two_unit.TwoUnitParams(
        w=(tuple(map(float, w[0])), tuple(map(float, w[1]))),
        i=tuple(map(float, params["input"])),
        tau_s=float(params["tau_s"]),
    )


def two_unit_stage(
    params: Mapping[str, Any], metrics_path: str, arrays_npz_path: str
) -> dict[str, Any]:
    """Stage ``toys_two_unit``: step response vs the closed form; per-mode τ = τ/(1 − λ)."""
    start = time.perf_counter()
    p = two_unit_params(params)
    dt = float(params["dt_s"])
    lam, vec, tau_k = two_unit.modes(p)
    x_star = two_unit.fixed_point(p)

    # step response from rest, and the phase-plane fan of starts around x*
    step = params["step"]
    t, x = two_unit.simulate(p, np.zeros(2), float(step["duration_s"]), dt)
    exact = two_unit.closed_form(p, t, np.zeros(2))
    fitted = two_unit.fitted_time_constants(p, t, x, x_star)
    rel_err = np.abs(fitted - tau_k) / tau_k
    pp = params["phase_plane"]
    angles = 2 * np.pi * np.arange(int(pp["n_starts"])) / int(pp["n_starts"])
    starts = x_star + float(pp["radius"]) * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    fan, fan_err, fan_tau_err = [], 0.0, 0.0
    for x0 in starts:
        tf, xf = two_unit.simulate(p, x0, float(pp["duration_s"]), dt)
        fan.append(xf)
        fan_err = max(fan_err, float(np.abs(xf - two_unit.closed_form(p, tf, x0)).max()))
        ft = two_unit.fitted_time_constants(p, tf, xf, x_star)
        fan_tau_err = max(fan_tau_err, float(np.nanmax(np.abs(ft - tau_k) / tau_k)))

    # pulse probe (no tonic input): pulses along units and eigenvectors (GIF)
    pu = params["pulses"]
    u, table = two_unit.pulse_inputs(
        p, float(pu["duration_s"]), dt, float(pu["pulse_s"]), float(pu["amplitude"])
    )
    tp, xp = two_unit.simulate(p, np.zeros(2), float(pu["duration_s"]), dt, inputs=u)

    metrics = {
        "eigenvalues": lam,
        "tau_closed_form_s": tau_k,
        "tau_fitted_s": fitted,
        "tau_max_rel_error": float(rel_err.max()),
        "tau_max_rel_error_all_starts": max(float(rel_err.max()), fan_tau_err),
        "trajectory_max_abs_error": max(float(np.abs(x - exact).max()), fan_err),
        "fixed_point": x_star,
        "seconds": time.perf_counter() - start,
    }
    log.info("two-unit: tau %s (fitted %s), max rel error %.2e", tau_k, fitted, rel_err.max())
    k = max(1, int(round(float(params["store_dt_s"]) / dt)))  # stored resolution
    atomic_write_npz(
        arrays_npz_path,
        {
            "w": p.w_arr,
            "input": p.i_arr,
            "tau_s": np.array(p.tau_s),
            "eigenvalues": lam,
            "eigenvectors": vec,
            "tau_k_s": tau_k,
            "fixed_point": x_star,
            "step_t_s": t[::k],
            "step_x": x[::k],
            "step_exact": exact[::k],
            "fan_t_s": tf[::k],
            "fan_x": np.stack(fan)[:, ::k],
            "pulse_t_s": tp[::k],
            "pulse_x": xp[::k],
            "pulse_u": u[::k],
            "pulse_onsets_s": np.array([r["onset_s"] for r in table]),
            "pulse_names": np.array([r["direction"] for r in table]),
        },
    )
    write_json(metrics_path, metrics)
    return metrics


# ---------------------------------------------------------------- Rubin et al. 2009


def rubin_stage(
    params: Mapping[str, Any], metrics_path: str, conditions_csv_path: str, traces_npz_path: str
) -> dict[str, Any]:
    """Stage ``toys_rubin``: period and phases for each drive condition (``default`` required)."""
    start = time.perf_counter()
    conds = {str(c["name"]): c["drives"] for c in params["conditions"]}
    if len(conds) != len(params["conditions"]):
        raise ValueError("toys.rubin.conditions: condition names must be unique")
    if "default" not in conds:
        raise KeyError("toys.rubin.conditions must contain 'default' (the published drives)")
    transient = float(params["transient_s"])
    keep_s = float(params["trace_s"])
    rows, arrays, per = [], {}, {}
    for name, drives in conds.items():
        p = rubin.RubinParams.from_mapping({"drives": drives})
        run = rubin.simulate(
            p,
            duration_s=float(params["duration_s"]),
            sample_dt_s=float(params["sample_dt_s"]),
            rtol=float(params["rtol"]),
            atol=float(params["atol"]),
        )
        res = rubin.analyse(run, transient)
        pops = res["populations"]
        ref = RUBIN_REFERENCE_PERIOD_S.get(name)
        per[name] = {
            "drives": list(map(float, drives)),
            "rhythmic": res["rhythmic"],
            "period_s": res["period_s"],
            "period_cv": res["period_cv"],
            "reference_period_s": ref,
            "period_rel_error": (
                abs(res["period_s"] - ref) / ref if ref and res["period_s"] else None
            ),
            **{
                f"{pop.replace('-', '_').lower()}_{k}": pops[pop][k]
                for pop in rubin.POPULATIONS
                for k in ("peak_output", "peak_time_s", "active_s", "v_min_mv", "v_max_mv")
            },
        }
        rows.append({"condition": name, **per[name], "drives": " ".join(map(str, drives))})
        sel = run.t_s >= run.t_s[-1] - keep_s
        arrays[f"{name}/t_s"] = run.t_s[sel] - run.t_s[sel][0]
        arrays[f"{name}/output"] = run.output[sel].astype(np.float32)
        arrays[f"{name}/v_mv"] = run.v_mv[sel].astype(np.float32)
        arrays[f"{name}/h"] = run.h[sel].astype(np.float32)
        log.info("Rubin %s: period %s s", name, res["period_s"])
    d = per["default"]
    metrics: dict[str, Any] = {
        "period_s": d["period_s"],
        "reference_period_s": RUBIN_REFERENCE_PERIOD_S["default"],
        "period_rel_error": d["period_rel_error"],
        "phases": {  # durations above half-range and peak times after cycle onset (s)
            "pre_i_active_s": d["pre_i_active_s"],
            "early_i_active_s": d["early_i_active_s"],
            "post_i_active_s": d["post_i_active_s"],
            "post_i_peak_time_s": d["post_i_peak_time_s"],
            "aug_e_peak_time_s": d["aug_e_peak_time_s"],
            "three_phase": bool(
                d["rhythmic"]
                and d["early_i_peak_time_s"] is not None
                and d["early_i_peak_time_s"] < d["post_i_peak_time_s"] < d["aug_e_peak_time_s"]
            ),
        },
        "conditions": per,
    }
    if "no_d2_d3" in per:  # documented change: aug-E falls silent, the period lengthens
        nd = per["no_d2_d3"]
        metrics["drive_removal"] = {
            "no_d2_d3_period_s": nd["period_s"],
            "no_d2_d3_aug_e_peak_output": nd["aug_e_peak_output"],
            "no_d2_d3_aug_e_silent": bool(nd["aug_e_peak_output"] < 0.05),
            "no_d2_d3_period_ratio": (
                nd["period_s"] / d["period_s"] if nd["period_s"] and d["period_s"] else None
            ),
        }
    metrics["seconds"] = time.perf_counter() - start
    columns = ["condition", *[k for k in per["default"] if k != "drives"], "drives"]
    write_csv(conditions_csv_path, rows, columns)
    arrays["conditions"] = np.array(list(conds))
    arrays["populations"] = np.array(rubin.POPULATIONS)
    atomic_write_npz(traces_npz_path, arrays)
    write_json(metrics_path, metrics)
    return metrics


# ---------------------------------------------------------------- ring attractor


def ring_stage(
    params: Mapping[str, Any], metrics_path: str, bumps_csv_path: str, arrays_npz_path: str
) -> dict[str, Any]:
    """Stage ``toys_ring``: stationary bumps vs the closed form; a bump tracking a moving input."""
    start = time.perf_counter()
    n, tau, dt = int(params["n"]), float(params["tau"]), float(params["dt"])
    rng = np.random.default_rng(int(params["seed"]))
    b = params["bump"]
    rows, profiles = [], []
    half, exists, outcome = {}, {}, {}
    for w1 in b["w1_values"]:
        key = w1_key(w1)
        p = ring.RingParams(
            n=n,
            w0=float(b["w0"]),
            w1=float(w1),
            h0=float(b["h0"]),
            threshold=float(b["threshold"]),
            tau=tau,
            dt=dt,
        )
        pred = ring.half_width_closed_form(float(w1))
        pred_peak = ring.peak_closed_form(p.w0, p.w1, p.h0 - p.threshold)
        try:
            rates, fit = ring.stationary_bump(p, float(b["duration_tau"]), rng)
            kind = "bump" if fit["bump"] else "uniform"
        except FloatingPointError:
            rates, fit, kind = np.full(n, np.nan), {"half_width_rad": None, "peak": None}, "runaway"
        outcome[key] = kind
        exists[key] = kind == "bump"
        if kind == "bump":
            half[key] = fit["half_width_rad"]
        rows.append(
            {
                "w1": float(w1),
                "outcome": kind,
                "half_width_rad": fit["half_width_rad"],
                "half_width_closed_form_rad": pred,
                "peak": fit["peak"],
                "peak_closed_form": pred_peak,
            }
        )
        profiles.append(rates)
        log.info(
            "ring w1=%s: %s, half-width %s (closed form %s)", key, kind, fit["half_width_rad"], pred
        )
    errs = [
        abs(r["half_width_rad"] - r["half_width_closed_form_rad"])
        for r in rows
        if r["outcome"] == "bump" and r["half_width_closed_form_rad"] is not None
    ]
    no_bump_ok = all(not exists[w1_key(w)] for w in b["w1_values"] if float(w) <= 2.0)

    m = params["moving"]
    pm = ring.RingParams(
        n=n,
        w0=float(m["w0"]),
        w1=float(m["w1"]),
        h0=float(m["h0"]),
        h1=float(m["h1"]),
        threshold=float(m["threshold"]),
        tau=tau,
        dt=dt,
    )
    lags, sds, maxerr, shown = {}, {}, {}, None
    for speed in m["speeds_rad_per_tau"]:
        res = ring.moving_bump(
            pm,
            float(m["duration_tau"]),
            float(speed),
            rng,
            float(m["settle_tau"]),
            record_every=int(m["record_every"]),
        )
        key = f"{float(speed):g}"
        lags[key], sds[key], maxerr[key] = (
            res["mean_lag_rad"],
            res["lag_sd_rad"],
            res["max_abs_error_rad"],
        )
        if shown is None or abs(float(speed) - float(m["show_speed_rad_per_tau"])) < 1e-12:
            shown = (float(speed), res)
    lag_values = [lags[f"{float(s):g}"] for s in sorted(map(float, m["speeds_rad_per_tau"]))]
    speed_shown, res = shown
    metrics = {
        "half_width_rad": half,
        "half_width_max_abs_error_rad": max(errs) if errs else None,
        "bump_exists": exists,
        "outcome": outcome,
        "no_bump_below_w1_2": no_bump_ok,
        "moving": {
            "lag_rad": lags,
            "lag_sd_rad": sds,
            "max_abs_lag_rad": maxerr,
            "lag_grows_with_speed": bool(np.all(np.diff(lag_values) > 0)),
            "tracks": bool(max(sds.values()) < 0.05),
        },
        "seconds": time.perf_counter() - start,
    }
    write_csv(
        bumps_csv_path,
        rows,
        [
            "w1",
            "outcome",
            "half_width_rad",
            "half_width_closed_form_rad",
            "peak",
            "peak_closed_form",
        ],
    )
    stride = max(1, int(round(float(m["store_every_tau"]) / (dt * int(m["record_every"])))))
    atomic_write_npz(
        arrays_npz_path,
        {
            "theta_rad": ring.angles(n),
            "w1_values": np.asarray(b["w1_values"], dtype=np.float64),
            "bump_profiles": np.stack(profiles),
            "moving_t_tau": res["t"][::stride],
            "moving_rates": res["rates"][::stride].astype(np.float32),
            "moving_stimulus_rad": res["stimulus_rad"][::stride],
            "moving_centre_rad": res["centre_rad"][::stride],
            "moving_speed": np.array(speed_shown),
            "settle_tau": np.array(float(m["settle_tau"])),
            "speeds": np.asarray(m["speeds_rad_per_tau"], dtype=np.float64),
            "lags_rad": np.array([lags[f"{float(s):g}"] for s in m["speeds_rad_per_tau"]]),
        },
    )
    write_json(metrics_path, metrics)
    return metrics


# ---------------------------------------------------------------- contract file


def merge_metrics_stage(model_metrics: Mapping[str, str], metrics_path: str) -> dict[str, Any]:
    """Stage ``toys_metrics``: {model: path} -> one file with ``ring``, ``rubin``, ``lif``,
    ``two_unit`` objects (contract keys ``ring.half_width_rad.{2.5,4,6}``,
    ``rubin.period_s``, ``lif.fI_max_rel_error``)."""
    merged = {name: read_json(path) for name, path in model_metrics.items()}
    missing = [
        k
        for k, ok in (
            ("ring.half_width_rad", "half_width_rad" in merged.get("ring", {})),
            ("rubin.period_s", "period_s" in merged.get("rubin", {})),
            ("lif.fI_max_rel_error", "fI_max_rel_error" in merged.get("lif", {})),
        )
        if not ok
    ]
    if missing:
        raise KeyError(f"toys metrics: contract keys missing: {missing}")
    write_json(metrics_path, merged)
    return merged
