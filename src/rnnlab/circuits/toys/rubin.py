"""Rubin, Shevtsova, Ermentrout, Smith & Rybak (2009) respiratory CPG (condense.md §4.2).

Four single-compartment "activity-based" populations: 1 = pre-I (pre-BötC, persistent
sodium I_NaP + delayed rectifier I_K), 2 = early-I, 3 = post-I, 4 = aug-E (adaptation
I_AD); three tonic drives D1–D3. Units: mV, ms, pF, nS (ModelDB 125529 parameter set).

    C dV_i/dt = −I_ion,i − g_L(V_i − E_L) − g_E(Σ_j a_ji f_E(V_j) + Σ_k c_ki D_k)(V_i − E_E)
                − g_I Σ_j b_ji f_I(V_j)(V_i − E_I)

The output of pre-I uses f_E (slope 8 mV), those of 2–4 use f_I (slope 4 mV); adaptation
follows τ_AD,i dm_i/dt = K_AD,i f_I(V_i) − m_i. Integrated with LSODA (stiff, tight
tolerances); the period is the mean interval between upward half-range crossings of the
pre-I output after a transient. Pure numpy/scipy, no plotting.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from scipy.integrate import solve_ivp

POPULATIONS = ("pre-I", "early-I", "post-I", "aug-E")


@dataclass(frozen=True)
class RubinParams:
    """Published ModelDB 125529 parameter set (condense.md §4.2). Matrices are [to, from]."""

    c_pf: float = 20.0
    g_l_ns: float = 2.8
    e_l_mv: float = -60.0
    g_e_ns: float = 10.0
    e_e_mv: float = 0.0
    g_i_ns: float = 60.0
    e_i_mv: float = -75.0
    e_k_mv: float = -85.0
    e_na_mv: float = 50.0
    g_k_ns: float = 5.0
    g_nap_ns: float = 5.0
    g_ad_ns: float = 10.0
    tau_h_max_ms: float = 6000.0
    tau_ad_ms: tuple[float, float, float] = (2000.0, 1000.0, 2000.0)  # populations 2, 3, 4
    k_ad: tuple[float, float, float] = (0.9, 1.3, 0.9)
    a12: float = 0.4  # pre-I -> early-I excitation
    # b[i][j]: inhibition onto population i+1 from population j+1
    b: tuple[tuple[float, ...], ...] = (
        (0.0, 0.0, 0.3, 0.2),
        (0.0, 0.0, 0.05, 0.35),
        (0.0, 0.25, 0.0, 0.1),
        (0.0, 0.35, 0.35, 0.0),
    )
    # c[i][k]: drive D_{k+1} onto population i+1
    c: tuple[tuple[float, ...], ...] = (
        (0.115, 0.07, 0.025),
        (0.3, 0.3, 0.0),
        (0.63, 0.0, 0.0),
        (0.33, 0.4, 0.0),
    )
    drives: tuple[float, float, float] = (1.0, 1.0, 1.0)
    v_half_mv: float = -30.0
    k_e_mv: float = 8.0
    k_i_mv: float = 4.0

    @classmethod
    def from_mapping(cls, overrides: Mapping[str, Any] | None = None) -> RubinParams:
        """Published set with ``overrides`` (e.g. ``{"drives": [1, 1, 0]}``) applied."""
        p = cls()
        if not overrides:
            return p
        kw: dict[str, Any] = {}
        for key, value in overrides.items():
            if not hasattr(p, key):
                raise KeyError(f"unknown Rubin parameter {key!r}")
            if isinstance(value, list | tuple):
                value = tuple(tuple(v) if isinstance(v, list | tuple) else float(v) for v in value)
            else:
                value = float(value)
            kw[key] = value
        return replace(p, **kw)


PUBLISHED = RubinParams()
INITIAL_STATE = (-60.0, -60.0, -60.0, -60.0, 0.35, 0.0, 0.0, 0.0)  # V1..V4, h, m2..m4


@dataclass
class RubinRun:
    """Result of :func:`simulate`: time (s), voltages (mV), outputs f(V) and gating."""

    t_s: np.ndarray
    v_mv: np.ndarray  # (n_t, 4)
    output: np.ndarray  # (n_t, 4): f_E(V1), f_I(V2..V4)
    h: np.ndarray
    m_ad: np.ndarray  # (n_t, 3)
    params: RubinParams = field(default_factory=RubinParams)


def f_out(v_mv: np.ndarray, k_mv: float, v_half_mv: float = -30.0) -> np.ndarray:
    """Sigmoid output 1 / (1 + exp(−(V − V½)/k))."""
    return 0.5 * (1.0 + np.tanh((np.asarray(v_mv) - v_half_mv) / (2.0 * k_mv)))


def outputs(v_mv: np.ndarray, p: RubinParams = PUBLISHED) -> np.ndarray:
    """Population outputs: f_E for pre-I, f_I for the others; ``v_mv`` (..., 4)."""
    v = np.asarray(v_mv, dtype=np.float64)
    out = f_out(v, p.k_i_mv, p.v_half_mv)
    out[..., 0] = f_out(v[..., 0], p.k_e_mv, p.v_half_mv)
    return out


def _arrays(p: RubinParams) -> dict[str, np.ndarray]:
    b = np.asarray(p.b, dtype=np.float64)
    c = np.asarray(p.c, dtype=np.float64)
    if b.shape != (4, 4) or c.shape != (4, 3):
        raise ValueError(f"Rubin: b must be 4x4 and c 4x3, got {b.shape}, {c.shape}")
    a = np.zeros((4, 4))
    a[1, 0] = p.a12
    return {
        "a": a,
        "b": b,
        "tonic": c @ np.asarray(p.drives, dtype=np.float64),
        "tau_ad": np.asarray(p.tau_ad_ms, dtype=np.float64),
        "k_ad": np.asarray(p.k_ad, dtype=np.float64),
    }


def make_rhs(p: RubinParams = PUBLISHED):
    """Vector field dy/dt (per ms) for y = (V1..V4, h, m2, m3, m4)."""
    arr = _arrays(p)
    a, b, tonic, tau_ad, k_ad = arr["a"], arr["b"], arr["tonic"], arr["tau_ad"], arr["k_ad"]

    def rhs(_t: float, y: np.ndarray) -> np.ndarray:
        v = y[:4]
        h = y[4]
        m = y[5:8]
        fe = f_out(v, p.k_e_mv, p.v_half_mv)
        fi = f_out(v, p.k_i_mv, p.v_half_mv)
        exc = a @ fe + tonic
        inh = b @ fi
        i_syn = p.g_e_ns * exc * (v - p.e_e_mv) + p.g_i_ns * inh * (v - p.e_i_mv)
        i_ion = np.zeros(4)
        v1 = v[0]
        m_nap = 1.0 / (1.0 + np.exp(-(v1 + 40.0) / 6.0))
        n_k = 1.0 / (1.0 + np.exp(-(v1 + 29.0) / 4.0))
        i_ion[0] = p.g_nap_ns * m_nap * h * (v1 - p.e_na_mv) + p.g_k_ns * n_k**4 * (v1 - p.e_k_mv)
        i_ion[1:] = p.g_ad_ns * m * (v[1:] - p.e_k_mv)
        dv = -(i_ion + p.g_l_ns * (v - p.e_l_mv) + i_syn) / p.c_pf
        h_inf = 1.0 / (1.0 + np.exp((v1 + 48.0) / 6.0))
        tau_h = p.tau_h_max_ms / np.cosh((v1 + 48.0) / 12.0)
        dh = (h_inf - h) / tau_h
        dm = (k_ad * fi[1:] - m) / tau_ad
        return np.concatenate([dv, [dh], dm])

    return rhs


def simulate(
    p: RubinParams = PUBLISHED,
    duration_s: float = 30.0,
    sample_dt_s: float = 0.005,
    y0: Sequence[float] = INITIAL_STATE,
    rtol: float = 1e-7,
    atol: float = 1e-9,
) -> RubinRun:
    """Integrate with LSODA; samples every ``sample_dt_s`` from 0 to ``duration_s``."""
    if duration_s <= 0 or sample_dt_s <= 0:
        raise ValueError("duration_s and sample_dt_s must be positive")
    t_eval_ms = np.arange(0.0, duration_s * 1e3 + 1e-9, sample_dt_s * 1e3)
    sol = solve_ivp(
        make_rhs(p),
        (0.0, float(t_eval_ms[-1])),
        np.asarray(y0, dtype=np.float64),
        method="LSODA",
        t_eval=t_eval_ms,
        rtol=rtol,
        atol=atol,
    )
    if not sol.success:
        raise RuntimeError(f"Rubin model integration failed: {sol.message}")
    y = sol.y.T
    return RubinRun(
        t_s=sol.t * 1e-3,
        v_mv=y[:, :4],
        output=outputs(y[:, :4], p),
        h=y[:, 4],
        m_ad=y[:, 5:8],
        params=p,
    )


def _up_crossings(t: np.ndarray, x: np.ndarray, level: float) -> np.ndarray:
    """Linearly interpolated times where ``x`` crosses ``level`` upward."""
    idx = np.flatnonzero((x[:-1] < level) & (x[1:] >= level))
    frac = (level - x[idx]) / (x[idx + 1] - x[idx])
    return t[idx] + frac * (t[idx + 1] - t[idx])


def _down_crossings(t: np.ndarray, x: np.ndarray, level: float) -> np.ndarray:
    return _up_crossings(t, -x, -level)


def analyse(run: RubinRun, transient_s: float, min_cycles: int = 3) -> dict[str, Any]:
    """Period and phase structure after ``transient_s``.

    Cycle onset = upward crossing of the pre-I output's half-range. Per population: peak
    output, peak time after onset (median over cycles), time above its own half-range
    (``active_s``; 0 when the population's range is < 0.02, i.e. silent/tonic). A rhythm
    needs ≥ ``min_cycles`` onsets with CV < 5 %; otherwise ``period_s`` is None.
    """
    keep = run.t_s >= transient_s
    t = run.t_s[keep]
    out = run.output[keep]
    pre = out[:, 0]
    lo, hi = float(pre.min()), float(pre.max())
    onsets = _up_crossings(t, pre, 0.5 * (lo + hi)) if hi - lo > 0.05 else np.array([])
    res: dict[str, Any] = {
        "rhythmic": False,
        "period_s": None,
        "period_cv": None,
        "n_cycles": max(0, onsets.size - 1),
        "populations": {},
    }
    periodic = onsets.size >= min_cycles + 1
    if periodic:
        intervals = np.diff(onsets)
        cv = float(intervals.std() / intervals.mean())
        res["period_cv"] = cv
        if cv < 0.05:
            res["rhythmic"] = True
            res["period_s"] = float(intervals.mean())
    for j, name in enumerate(POPULATIONS):
        x = out[:, j]
        pop: dict[str, Any] = {
            "peak_output": float(x.max()),
            "min_output": float(x.min()),
            "v_min_mv": float(run.v_mv[keep, j].min()),
            "v_max_mv": float(run.v_mv[keep, j].max()),
            "peak_time_s": None,
            "active_s": 0.0,
            "active_start_s": None,
            "active_end_s": None,
        }
        if res["rhythmic"]:
            peaks, starts, ends, durs = [], [], [], []
            level = 0.5 * (x.min() + x.max())
            for k in range(onsets.size - 1):
                sel = (t >= onsets[k]) & (t < onsets[k + 1])
                tc, xc = t[sel] - onsets[k], x[sel]
                peaks.append(tc[np.argmax(xc)])
                if x.max() - x.min() < 0.02:
                    continue
                # active window may wrap the onset (pre-I / early-I start at ~0)
                cyc_t = np.concatenate([tc, tc[-1:] + (tc[1] - tc[0])])
                cyc_x = np.concatenate([xc, xc[:1]])
                above = cyc_x >= level
                if above.all() or not above.any():
                    continue
                ups = _up_crossings(cyc_t, cyc_x, level)
                downs = _down_crossings(cyc_t, cyc_x, level)
                start = float(ups[0]) if ups.size else 0.0
                if xc[0] >= level:  # active at onset: starts at (or just before) onset
                    start = 0.0
                end = float(downs[downs > start][0]) if np.any(downs > start) else float(tc[-1])
                starts.append(start)
                ends.append(end)
                durs.append(end - start)
            pop["peak_time_s"] = float(np.median(peaks))
            if durs:
                pop["active_s"] = float(np.median(durs))
                pop["active_start_s"] = float(np.median(starts))
                pop["active_end_s"] = float(np.median(ends))
        res["populations"][name] = pop
    res["onsets_s"] = onsets
    return res
