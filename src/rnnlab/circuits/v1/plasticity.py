"""Learning rules, which synapses learn, and alternating phase patterns (circuits.md B5).

Every rule's update is rank one per direction, ΔW[post, pre] = u vᵀ, so it is stored as the
two factors (u: postsynaptic, v: presynaptic) and applied as W += (Δt/τ_learn) u vᵀ; masks on
rows (postsynaptic) and columns (presynaptic) are separable and multiply u and v.

* ``bcm``: θ_i = mean of r_i² over the window; u = r (r − θ)/θ, v = I (the external input,
  as the original; ``presynaptic: rate`` uses r instead).
* ``slide_bcm``: θ_i = (1/τ_θ) ∫_window exp(−(t − s)/τ_θ) r_i(s)² ds. ``simpson`` integrates
  the stored window with Simpson's rule (the original); ``recursive`` is the rectangle rule as
  an O(N) recursion over the same truncated window (much faster for long windows).
* ``oja`` (the original's ad-hoc variant): y = r + I − W r; u = r, v = y.
* ``cov``: u = v = r − r̄ (window mean).

The window holds the last L = int(−(τ_θ/Δt) ln 0.1) rate vectors of the trajectory r(0), r(Δt),
…, the initial rates included (as the original, whose window is a slice of its list of rates
starting with r0), capped at the run length; L is the time for the exponential kernel to decay
to 10 %. Inhibitory presynaptic columns (PV, SST) have
their sign flipped for slide_bcm, oja and cov; the original does not flip them for plain BCM
(``legacy: true`` keeps that; otherwise BCM flips them too).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache

import numpy as np
from scipy.integrate import simpson

from rnnlab.circuits.v1.connectivity import EXCITATORY, population_of_neuron

RULES = ("none", "bcm", "slide_bcm", "oja", "cov")
NEURON_SETS = ("excit_only", "inhibit_only", "all")
MODES = ("all", "CS", "CC", "PV", "SST", "rest")
PHASE_PATTERNS = {
    "no_alter": ("all",),
    "cc_cs_alter": ("CS", "CC", "rest"),
    "all_alter": ("CS", "CC", "PV", "SST", "rest"),
}
THRESHOLD_QUADRATURES = ("simpson", "recursive")


def phase_modes(pattern: str, steps_per_mode: int) -> list[str]:
    """Mode per step of one cycle, e.g. 10 × 'CS', 10 × 'CC', 10 × 'rest'."""
    if pattern not in PHASE_PATTERNS:
        raise ValueError(f"phase_pattern must be one of {sorted(PHASE_PATTERNS)}, got {pattern!r}")
    if steps_per_mode < 1:
        raise ValueError("steps_per_mode must be >= 1")
    return [m for m in PHASE_PATTERNS[pattern] for _ in range(steps_per_mode)]


def window_length(tau_threshold: float, dt: float, max_steps: int) -> int:
    """L = int(−(τ_θ/Δt) ln 0.1), at least 1 and at most ``max_steps``."""
    length = int(-(tau_threshold / dt) * np.log(0.1))
    return int(min(max(length, 1), max_steps))


def row_mask(
    mode: str, neurons: str, n_per_population: Sequence[int], legacy: bool = False
) -> np.ndarray:
    """Postsynaptic (row) mask for a phase mode and a learning set, shape (N,).

    ``excit_only``: only E rows; ``inhibit_only``: only I rows (the original zeroed the first
    sum(N[2:]) rows instead, reproduced by ``legacy``). Modes 'CS'/'CC'/'PV'/'SST' keep only that
    population's rows (the original ignores 'PV' and 'SST'; ``legacy`` reproduces that).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if neurons not in NEURON_SETS:
        raise ValueError(f"neurons must be one of {NEURON_SETS}, got {neurons!r}")
    pop = population_of_neuron(n_per_population)
    mask = np.ones(pop.size)
    if neurons == "excit_only":
        mask *= EXCITATORY[pop]
    elif neurons == "inhibit_only":
        if legacy:
            mask[: int(np.sum(np.asarray(n_per_population)[2:]))] = 0.0
        else:
            mask *= ~EXCITATORY[pop]
    if mode == "rest":
        return np.zeros(pop.size)
    if mode in ("CS", "CC") or (mode in ("PV", "SST") and not legacy):
        mask *= pop == ("CS", "CC", "PV", "SST").index(mode)
    return mask


def col_mask(neurons: str, n_per_population: Sequence[int]) -> np.ndarray:
    """Presynaptic (column) mask: E columns for ``excit_only``, I for ``inhibit_only``."""
    pop = population_of_neuron(n_per_population)
    if neurons == "excit_only":
        return EXCITATORY[pop].astype(np.float64)
    if neurons == "inhibit_only":
        return (~EXCITATORY[pop]).astype(np.float64)
    if neurons == "all":
        return np.ones(pop.size)
    raise ValueError(f"neurons must be one of {NEURON_SETS}, got {neurons!r}")


def presynaptic_sign(
    rule: str, n_per_population: Sequence[int], legacy: bool = False
) -> np.ndarray:
    """−1 on inhibitory presynaptic columns for rules that flip them, else +1 (shape (N,))."""
    pop = population_of_neuron(n_per_population)
    flips = rule in ("slide_bcm", "oja", "cov") or (rule == "bcm" and not legacy)
    return np.where(flips & ~EXCITATORY[pop], -1.0, 1.0)


@lru_cache(maxsize=64)
def _simpson_weights(n: int, dx: float) -> np.ndarray:
    """Quadrature weights w with Σ w_k f_k = simpson(f, dx=dx) for n samples."""
    if n == 1:
        return np.array([dx])
    if n == 2:
        return np.array([dx / 2, dx / 2])
    return simpson(np.eye(n), dx=dx, axis=1)


class RateWindow:
    """Ring buffer of the last L rate vectors (D, N) with running sums for the thresholds."""

    def __init__(
        self,
        length: int,
        shape: tuple[int, int],
        dt: float,
        tau_threshold: float,
        quadrature: str = "simpson",
    ) -> None:
        if quadrature not in THRESHOLD_QUADRATURES:
            raise ValueError(
                f"threshold_quadrature must be one of {THRESHOLD_QUADRATURES}, got {quadrature!r}"
            )
        self.length = int(length)
        self.buffer = np.zeros((self.length, *shape))
        self.buffer_sq = np.zeros((self.length, *shape))
        self.count = 0
        self.head = 0  # index where the next sample goes
        self.sum_r = np.zeros(shape)
        self.sum_r2 = np.zeros(shape)
        self.dt = float(dt)
        self.tau_threshold = float(tau_threshold)
        self.quadrature = quadrature
        self.decay = float(np.exp(-dt / tau_threshold))
        self.decay_full = self.decay**self.length
        self.exp_sum = np.zeros(shape)  # Σ_age decay^age r², rectangle rule

    def push(self, r: np.ndarray) -> None:
        """Append the newest rates; drop the oldest once the window is full."""
        r2 = r * r
        self.exp_sum *= self.decay
        if self.count == self.length:
            self.sum_r -= self.buffer[self.head]
            self.sum_r2 -= self.buffer_sq[self.head]
            self.exp_sum -= self.decay_full * self.buffer_sq[self.head]
        else:
            self.count += 1
        self.buffer[self.head] = r
        self.buffer_sq[self.head] = r2
        self.head = (self.head + 1) % self.length
        self.sum_r += r
        self.sum_r2 += r2
        self.exp_sum += r2

    def ordered(self) -> np.ndarray:
        """The stored rates oldest first, shape (count, D, N)."""
        if self.count < self.length:
            return self.buffer[: self.count]
        return np.roll(self.buffer, -self.head, axis=0)

    def mean(self) -> np.ndarray:
        return self.sum_r / self.count

    def mean_sq(self) -> np.ndarray:
        return self.sum_r2 / self.count

    def sliding_threshold(self) -> np.ndarray:
        """(1/τ_θ) ∫ exp(−age/τ_θ) r² over the window."""
        if self.quadrature == "recursive":
            return self.exp_sum * (self.dt / self.tau_threshold)
        n = self.count
        ages = (n - 1 - np.arange(n)) * self.dt
        kernel = _simpson_weights(n, self.dt) * np.exp(-ages / self.tau_threshold)
        if n < self.length:
            data = self.buffer_sq[:n]
        else:  # oldest sample sits at ``head``: rotate the kernel, not the data
            kernel = np.roll(kernel, self.head)
            data = self.buffer_sq
        flat = data.reshape(data.shape[0], -1)
        return (kernel @ flat).reshape(data.shape[1:]) / self.tau_threshold


def rank_one_factors(
    rule: str,
    window: RateWindow,
    r: np.ndarray,
    inp: np.ndarray,
    recurrent: Callable[[np.ndarray], np.ndarray],
    presynaptic: str = "input",
) -> tuple[np.ndarray, np.ndarray]:
    """(u, v) with ΔW = u vᵀ per direction, before masks and sign flips; shapes (D, N)."""
    pre = inp if presynaptic == "input" else r
    if rule in ("bcm", "slide_bcm"):
        theta = window.mean_sq() if rule == "bcm" else window.sliding_threshold()
        theta = np.maximum(theta, np.finfo(np.float64).tiny)
        return r * (r - theta) / theta, pre
    if rule == "oja":
        y = r + inp - recurrent(r)
        return r, y
    if rule == "cov":
        centred = r - window.mean()
        return centred, centred
    raise ValueError(f"rule must be one of {RULES[1:]}, got {rule!r}")
