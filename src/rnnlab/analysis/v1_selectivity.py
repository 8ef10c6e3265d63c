"""Selectivity, QC, weight tables and the tuning loss of the V1 layer-5 model (B6-B10).

Pure functions from a :class:`~rnnlab.circuits.v1.simulate.V1Run` to tables and numbers, plus
the ``v1_simulate`` stage that writes them. Per reliable neuron with responses R[d] at
0°, 90°, 180°, 270° and k = argmax R:

    OS = (s_po − s_orth)/(s_po + s_orth),   DS = (R_k − R_k+2)/(R_k + R_k+2),
    OS_paper = (R_k − s_orth)/(R_k + s_orth),
    s_po = (R_k + R_k+2)/2,  s_orth = (R_k+1 + R_k+3)/2.

Fixed relative to the original (``legacy: true`` restores each, for comparison):

* weight tables report block **means** (the original's ``weight_eva`` aliased the mean and
  std arrays, so its ``Mean_*`` rows were block stds and the loss compared stds to targets);
* the "before learning" response is the ``before_bins`` bins just before learning starts
  (the original mixed steps and τ units and used bins 0-1, the first 50 steps of the transient);
* the equilibrium test is two-sided (the original counted only decreasing activity).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from rnnlab.circuits.v1.connectivity import POPULATIONS
from rnnlab.circuits.v1.simulate import V1Run, simulate
from rnnlab.io import atomic_write_npz, write_csv, write_json

log = logging.getLogger(__name__)

SEL_KEYS = ("OS", "DS", "OS_p")
TABLE_ROWS = (
    "Mean_act",
    "Std_of_mean",
    "Mean_std",
    "Mean_of_OS",
    "Std_mean_OS",
    "Mean_std_OS",
    "Mean_of_DS",
    "Std_mean_DS",
    "Mean_std_DS",
    "Mean_of_OS_p",
    "Std_mean_OS_p",
    "Mean_std_OS_p",
)
WEIGHT_ROWS = (
    "Mean_weight",
    "Std_mean_W",
    "Mean_std_W",
    "Mean_Wini",
    "Std_mean_Wini",
    "Mean_std_Wini",
    "Mean_Wdel",
    "Std_mean_Wdel",
    "Mean_std_Wdel",
)
PAIRS = tuple(f"{post}-{pre}" for post in POPULATIONS for pre in POPULATIONS)  # post-pre


def _check_directions(directions_deg: np.ndarray) -> None:
    expected = (directions_deg[0] + np.arange(4) * 90.0) % 360.0
    if directions_deg.size != 4 or not np.allclose(directions_deg % 360.0, expected):
        raise ValueError(
            f"selectivity needs 4 directions 90 degrees apart in order, got {directions_deg}"
        )


def selectivity_indices(responses: np.ndarray) -> dict[str, np.ndarray]:
    """OS, DS, OS_paper per neuron from responses (..., 4 directions, N)."""
    resp = np.asarray(responses, dtype=np.float64)
    k = np.argmax(resp, axis=-2)[..., None, :]
    take = lambda shift: np.take_along_axis(resp, (k + shift) % 4, axis=-2)[..., 0, :]  # noqa: E731
    pref, oppo = take(0), take(2)
    orth = 0.5 * (take(1) + take(3))
    pref_orient = 0.5 * (pref + oppo)
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "OS": (pref_orient - orth) / (pref_orient + orth),
            "DS": (pref - oppo) / (pref + oppo),
            "OS_p": (pref - orth) / (pref + orth),
        }


def window_bins(
    run: V1Run, analysis: Mapping[str, Any], dynamics: Mapping[str, Any], legacy: bool
) -> dict[str, slice]:
    """Bin windows: ``after`` (last ``after_bins``) and ``before`` (see module docstring)."""
    n_bins = run.n_bins
    after = slice(max(n_bins - int(analysis["after_bins"]), 0), n_bins)
    if legacy:
        steps_tau = run.steps_before_learning * float(dynamics["dt"]) / float(dynamics["tau"])
        end = max(int(steps_tau / run.bin_steps), 1)
        before = slice(0, min(end, n_bins))
    else:
        end = (run.steps_before_learning - run.first_bin_step) // run.bin_steps
        end = int(np.clip(end, 1, n_bins))
        before = slice(max(end - int(analysis["before_bins"]), 0), end)
    return {"after": after, "before": before}


def qc_counters(run: V1Run, analysis: Mapping[str, Any], legacy: bool) -> dict[str, Any]:
    """NaN runs, non-equilibrium runs (two-sided; one-sided if legacy), silent populations."""
    rates = run.rates_binned
    nan_runs = int(np.sum(np.all(np.isnan(rates[:, :, -1, :]), axis=-1)))
    e = int(analysis["equilibrium_bins"])
    if rates.shape[2] >= 2 * e:
        early = rates[:, :, -2 * e : -e].mean(axis=2)
        late = rates[:, :, -e:].mean(axis=2)
        diff = early - late if legacy else np.abs(early - late)
        flagged = np.nan_to_num(diff, nan=np.inf) >= float(analysis["equilibrium_tol"])
        non_eq = int(np.sum(np.any(flagged, axis=-1)))
        frac = float(np.mean(flagged))
    else:
        non_eq, frac = 0, 0.0
    return {
        "nan_runs": nan_runs,
        "non_equilibrium": non_eq,
        "non_equilibrium_neuron_fraction": frac,
        "runs": int(rates.shape[0] * rates.shape[1]),
        "one_sided_equilibrium_test": bool(legacy),
    }


def population_stats(run: V1Run, window: slice, reliable_rate: float) -> dict[str, np.ndarray]:
    """Per simulation and population: rate mean/std, selectivity mean/std, reliable counts.

    Arrays of shape (S, 4); selectivity over reliable neurons only (NaN if none).
    """
    rates = np.nan_to_num(run.rates_binned[:, :, window, :], nan=0.0)  # (S, D, b, N)
    resp = rates.mean(axis=2)  # (S, D, N)
    idx = selectivity_indices(resp)
    reliable = np.max(resp, axis=1) >= reliable_rate  # (S, N)
    pop = np.repeat(np.arange(4), run.n_per_population)
    n_sims = rates.shape[0]
    out = {f"{k}_{s}": np.full((n_sims, 4), np.nan) for k in SEL_KEYS for s in ("mean", "std")}
    out["rate_mean"] = np.zeros((n_sims, 4))
    out["rate_std"] = np.zeros((n_sims, 4))
    out["n_reliable"] = np.zeros((n_sims, 4), dtype=np.int64)
    for p in range(4):
        cols = pop == p
        block = rates[..., cols]
        out["rate_mean"][:, p] = block.mean(axis=(1, 2, 3))
        out["rate_std"][:, p] = block.std(axis=(1, 2, 3))
        for s in range(n_sims):
            keep = cols & reliable[s]
            out["n_reliable"][s, p] = int(keep.sum())
            if keep.any():
                for key in SEL_KEYS:
                    vals = idx[key][s, keep]
                    out[f"{key}_mean"][s, p] = np.mean(vals)
                    out[f"{key}_std"][s, p] = np.std(vals)
    out["responses"] = resp
    return out


def selectivity_table(stats: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The original's 12 × 4 table (rows TABLE_ROWS) over simulations.

    Simulations in which some population has no reliable neuron are left out of the
    selectivity rows (as the original); activity rows use every simulation.
    """
    keep = np.all(stats["n_reliable"] > 0, axis=1)
    table: dict[str, np.ndarray] = {
        "Mean_act": stats["rate_mean"].mean(axis=0),
        "Std_of_mean": stats["rate_mean"].std(axis=0),
        "Mean_std": stats["rate_std"].mean(axis=0),
    }
    with np.errstate(invalid="ignore"), _quiet():
        for key in SEL_KEYS:
            means, stds = stats[f"{key}_mean"][keep], stats[f"{key}_std"][keep]
            table[f"Mean_of_{key}"] = (
                np.nanmean(means, axis=0) if keep.any() else np.full(4, np.nan)
            )
            table[f"Std_mean_{key}"] = (
                np.nanstd(means, axis=0) if keep.any() else np.full(4, np.nan)
            )
            table[f"Mean_std_{key}"] = (
                np.nanmean(stds, axis=0) if keep.any() else np.full(4, np.nan)
            )
    return table


class _quiet:
    """Silence numpy's 'mean of empty slice' warnings inside a block."""

    def __enter__(self) -> None:
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc: object) -> None:
        self._ctx.__exit__(*exc)


def weight_table(run: V1Run, legacy: bool) -> dict[str, np.ndarray]:
    """Block weights over runs (simulation × direction), 9 rows × 16 post-pre pairs.

    ``legacy`` reproduces the original's aliasing: every ``Mean_*`` row equals the
    ``Mean_std_*`` row and ``Std_mean_*`` is the across-run std of block stds.
    """
    n_sims, n_dir = run.w_final_mean.shape[:2]
    init_mean = np.repeat(run.w_initial_mean[:, None], n_dir, axis=1)
    init_std = np.repeat(run.w_initial_std[:, None], n_dir, axis=1)
    parts = {
        "W": (run.w_final_mean, run.w_final_std),
        "Wini": (init_mean, init_std),
        "Wdel": (run.w_delta_mean, run.w_delta_std),
    }
    table = {}
    for name, (mean, std) in parts.items():
        mean = mean.reshape(n_sims * n_dir, 16)
        std = std.reshape(n_sims * n_dir, 16)
        first = mean if not legacy else std
        mean_row = "Mean_weight" if name == "W" else f"Mean_{name}"
        table[mean_row] = first.mean(axis=0)
        table[f"Std_mean_{name}"] = first.std(axis=0)
        table[f"Mean_std_{name}"] = std.mean(axis=0)
    return {row: table[row] for row in WEIGHT_ROWS}


def relative_index(after: Mapping[str, np.ndarray], key: str) -> float | None:
    """(X_CS − X_CC)/(X_CS + X_CC) on across-simulation means; None unless CC's OS, DS > 1e−5."""
    if not (after["Mean_of_OS"][1] > 1e-5 and after["Mean_of_DS"][1] > 1e-5):
        return None
    cs, cc = after[f"Mean_of_{key}"][0], after[f"Mean_of_{key}"][1]
    return float((cs - cc) / (cs + cc))


def loss_terms(
    after: Mapping[str, np.ndarray],
    before: Mapping[str, np.ndarray],
    weights: Mapping[str, np.ndarray],
    w_compare: np.ndarray,
) -> dict[str, float]:
    """The reference's tuning loss (B10) and its parts; minimised."""
    target = np.asarray(w_compare, dtype=np.float64).T.reshape(16)  # [post, pre] row-major
    rmse = float(np.sqrt(np.mean((weights["Mean_weight"] - target) ** 2)))
    d_ds = float(np.sum(after["Mean_of_DS"] - before["Mean_of_DS"]))
    d_os = float(abs(np.sum(after["Mean_of_OS"] - before["Mean_of_OS"])))
    sel_std = float(sum(np.mean(after[f"Std_mean_{k}"]) for k in SEL_KEYS))
    sel_std_sim = float(sum(np.mean(after[row]) for row in after if "Mean_std" in row))
    loss = abs(10.0 * (rmse + d_os) - d_ds + 0.1 * (sel_std + sel_std_sim))
    return {
        "loss": float(loss),
        "weight_rmse": rmse,
        "delta_ds": d_ds,
        "delta_os": d_os,
        "sel_std": sel_std,
        "sel_std_sim": sel_std_sim,
    }


def evaluate(run: V1Run, params: Mapping[str, Any]) -> dict[str, Any]:
    """Everything the stage reports, from a run and its ``v1.simulate`` section."""
    legacy = bool(params["legacy"])
    ana = params["analysis"]
    _check_directions(run.directions_deg)
    windows = window_bins(run, ana, params["dynamics"], legacy)
    stats = {c: population_stats(run, w, float(ana["reliable_rate"])) for c, w in windows.items()}
    tables = {c: selectivity_table(s) for c, s in stats.items()}
    weights = weight_table(run, legacy)
    qc = qc_counters(run, ana, legacy)
    silent = np.sum(stats["after"]["n_reliable"] == 0, axis=0)
    qc["silent_populations"] = {p: int(silent[i]) for i, p in enumerate(POPULATIONS)}
    terms = loss_terms(tables["after"], tables["before"], weights, params["network"]["w_compare"])
    return {
        "windows": windows,
        "stats": stats,
        "tables": tables,
        "weights": weights,
        "qc": qc,
        "loss": terms,
        "relative": {k: relative_index(tables["after"], k) for k in SEL_KEYS},
    }


def _per_pop(values: np.ndarray) -> dict[str, float]:
    return {p: float(values[i]) for i, p in enumerate(POPULATIONS)}


def metrics_dict(result: Mapping[str, Any], run: V1Run, params: Mapping[str, Any]) -> dict:
    """metrics.json content (contract: ``os``, ``ds``, ``qc.nan_runs``, ``qc.non_equilibrium``)."""
    after, before = result["tables"]["after"], result["tables"]["before"]
    stim, plast = params["stimulus"], params["plasticity"]
    return {
        "os": _per_pop(after["Mean_of_OS"]),
        "ds": _per_pop(after["Mean_of_DS"]),
        "os_paper": _per_pop(after["Mean_of_OS_p"]),
        "os_sd_across_sims": _per_pop(after["Std_mean_OS"]),
        "ds_sd_across_sims": _per_pop(after["Std_mean_DS"]),
        "os_sd_within_sims": _per_pop(after["Mean_std_OS"]),
        "ds_sd_within_sims": _per_pop(after["Mean_std_DS"]),
        "rate": _per_pop(after["Mean_act"]),
        "before": {
            "os": _per_pop(before["Mean_of_OS"]),
            "ds": _per_pop(before["Mean_of_DS"]),
            "os_paper": _per_pop(before["Mean_of_OS_p"]),
            "rate": _per_pop(before["Mean_act"]),
        },
        "relative": {
            "os": result["relative"]["OS"],
            "ds": result["relative"]["DS"],
            "os_paper": result["relative"]["OS_p"],
        },
        "qc": result["qc"],
        **result["loss"],
        "n_simulations": int(run.rates_binned.shape[0]),
        "seconds": float(run.seconds),
        "meta": {
            "input_amplitude": {p: float(stim["amplitude"][i]) for i, p in enumerate(POPULATIONS)},
            "tau": float(params["dynamics"]["tau"]),
            "tau_learn": float(plast["tau_learn"]),
            "tau_threshold": float(plast["tau_threshold"]),
            "learning_rule": plast["rule"],
            "neurons": plast["neurons"],
            "phase_pattern": plast["phase_pattern"],
            "legacy": bool(params["legacy"]),
            "before_bins": [result["windows"]["before"].start, result["windows"]["before"].stop],
            "after_bins": [result["windows"]["after"].start, result["windows"]["after"].stop],
        },
    }


def write_outputs(
    run: V1Run, result: Mapping[str, Any], params: Mapping[str, Any], out_dir: str | Path
) -> dict[str, Any]:
    """metrics.json, selectivity.csv, selectivity_per_sim.csv, weights.csv, neurons.csv,
    timecourse.npz under ``out_dir``; returns the metrics."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    metrics = metrics_dict(result, run, params)
    rows = [
        {"condition": c, "property": row, **_per_pop(result["tables"][c][row])}
        for c in ("after", "before")
        for row in TABLE_ROWS
    ]
    write_csv(out / "selectivity.csv", rows, ["condition", "property", *POPULATIONS])
    per_sim = []
    for c, st in result["stats"].items():
        for s in range(st["rate_mean"].shape[0]):
            for p, name in enumerate(POPULATIONS):
                row = {"condition": c, "simulation": s, "population": name}
                row.update({k: st[k][s, p] for k in st if k != "responses"})
                per_sim.append(row)
    sim_cols = [k for k in result["stats"]["after"] if k != "responses"]
    write_csv(
        out / "selectivity_per_sim.csv",
        per_sim,
        ["condition", "simulation", "population", *sim_cols],
    )
    write_csv(
        out / "weights.csv",
        [{"row": r, **dict(zip(PAIRS, v, strict=True))} for r, v in result["weights"].items()],
        ["row", *PAIRS],
    )
    pop = np.repeat(np.arange(4), run.n_per_population)
    resp_a, resp_b = result["stats"]["after"]["responses"], result["stats"]["before"]["responses"]
    neurons = [
        {
            "simulation": s,
            "direction_deg": float(run.directions_deg[d]),
            "neuron": i,
            "population": POPULATIONS[pop[i]],
            "rate_after": resp_a[s, d, i],
            "rate_before": resp_b[s, d, i],
        }
        for s in range(resp_a.shape[0])
        for d in range(resp_a.shape[1])
        for i in range(resp_a.shape[2])
    ]
    write_csv(
        out / "neurons.csv",
        neurons,
        ["simulation", "direction_deg", "neuron", "population", "rate_after", "rate_before"],
    )
    rates = np.nan_to_num(run.rates_binned, nan=0.0)
    act_mean = np.stack([rates[..., pop == p].mean(axis=(0, 3)) for p in range(4)])
    act_std = np.stack([rates[..., pop == p].std(axis=(0, 3)) for p in range(4)])
    blocks = run.block_mean_time.reshape(-1, *run.block_mean_time.shape[2:])  # (S·D, B, 4, 4)
    dyn = params["dynamics"]
    centres_step = run.first_bin_step + (np.arange(run.n_bins) + 0.5) * run.bin_steps
    atomic_write_npz(
        out / "timecourse.npz",
        {
            "time_tau": centres_step * float(dyn["dt"]) / float(dyn["tau"]),
            "learning_start_tau": np.array(
                run.steps_before_learning * float(dyn["dt"]) / float(dyn["tau"])
            ),
            "directions_deg": run.directions_deg,
            "populations": np.array(POPULATIONS),
            "activity_mean": act_mean,  # (4 populations, D, B)
            "activity_std": act_std,
            "weights_mean": blocks.mean(axis=0),  # (B, 4 post, 4 pre)
            "weights_std": blocks.std(axis=0),
            "w_compare_post_pre": np.asarray(params["network"]["w_compare"]).T,
        },
    )
    write_json(out / "metrics.json", metrics)
    return metrics


def run_and_evaluate(params: Mapping[str, Any]) -> tuple[V1Run, dict[str, Any]]:
    """Simulate with one BLAS thread (faster than two contending on a 2-core box) and evaluate."""
    with threadpool_limits(limits=1):
        run = simulate(params)
        return run, evaluate(run, params)


def v1_simulate_stage(params: Mapping[str, Any], out_dir: str | Path) -> dict[str, Any]:
    """Stage ``v1_simulate``: the ``v1.simulate`` section → tables and metrics in ``out_dir``."""
    start = time.perf_counter()
    run, result = run_and_evaluate(params)
    metrics = write_outputs(run, result, params, out_dir)
    log.info(
        "v1_simulate: %d simulations in %.1f s, OS %s, DS %s, loss %.4g",
        metrics["n_simulations"],
        time.perf_counter() - start,
        metrics["os"],
        metrics["ds"],
        metrics["loss"],
    )
    return metrics
