"""Six oculomotor tasks of the brain-maturation study (maturation.md §3), vectorised.

ODR, ODRD (working memory) and Overlap, Zero-gap, Gap, Gap500 (antisaccade). Inputs are
1 fixation + 8 ring + 6 rule units; outputs 1 fixation + 8 ring (sigmoid, lsq targets).
All durations are fixed per task and given in ms, so one ``dt_ms`` sets the step count
(every duration must be a multiple of it). Epochs are ``(start, end)`` step indices.

- *random* mode (training/evaluation): stimulus angles ~ U[0, 2π), input noise on in the
  model; ODRD distractor = cue + k·45°, one k ∈ {1..7} per batch (never 0, as the original);
- *test* mode (analyses): 8 locations × ``n_repeats`` trials, location-major; the ODRD
  distractor is opposite the cue unless ``distractor_locs`` fixes it per trial.

Cost mask: 0 for the first 100 ms, 1 until the go step, 0 for a 100-ms grace period, 5
after; the fixation column × 2. The loss multiplies the error by the mask before squaring.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

TASKS: tuple[str, ...] = ("overlap", "zero_gap", "gap", "odr", "odrd", "gap500")
WM_TASKS: tuple[str, ...] = ("odr", "odrd")
ANTI_TASKS: tuple[str, ...] = ("overlap", "zero_gap", "gap", "gap500")
N_RING = 8
N_INPUT = 1 + N_RING + len(TASKS)
N_OUTPUT = 1 + N_RING
RULE_START = 1 + N_RING
PREF_ANGLES = 2 * np.pi * np.arange(N_RING) / N_RING
BUMP_SIGMA = np.pi / 8
STIM_AMPLITUDE = 0.8
TARGET_LOW = 0.05
TARGET_HIGH = 0.8
PERF_TOLERANCE_RAD = 0.2 * np.pi
MASK_SKIP_MS = 100.0
GRACE_MS = 100.0


@dataclass(frozen=True)
class Timeline:
    """One task's timing in ms: what the generator needs, plus named analysis epochs."""

    total_ms: float
    fix_off_ms: float  # fixation input turns off
    go_ms: float  # response due: fixation-output target drops, ring target appears
    stim_ms: tuple[float, float]
    anti: bool
    distract_ms: tuple[float, float] | None = None
    epochs_ms: dict[str, tuple[float, float]] = field(default_factory=dict)


def timeline(task: str, odr_delay_ms: float = 1500.0) -> Timeline:
    """The fixed timeline of ``task`` (maturation.md §3 table); ODR delay is a param."""
    if task == "odr":
        go = 1500.0 + odr_delay_ms
        return Timeline(
            go + 500.0,
            go,
            go,
            (1000.0, 1500.0),
            False,
            epochs_ms={
                "fix1": (0.0, 1000.0),
                "stim1": (1000.0, 1500.0),
                "delay1": (1500.0, go),
                "go1": (go, go + 500.0),
            },
        )
    if task == "odrd":
        return Timeline(
            3500.0,
            3000.0,
            3000.0,
            (1000.0, 1500.0),
            False,
            distract_ms=(2000.0, 2500.0),
            epochs_ms={
                "fix1": (0.0, 1000.0),
                "stim1": (1000.0, 1500.0),
                "delay1": (1500.0, 2000.0),
                "distract1": (2000.0, 2500.0),
                "delay2": (2500.0, 3000.0),
                "go1": (3000.0, 3500.0),
            },
        )
    if task == "overlap":
        return Timeline(
            1600.0,
            1100.0,
            1100.0,
            (1000.0, 1100.0),
            True,
            epochs_ms={"fix1": (0.0, 1000.0), "stim1": (1000.0, 1100.0), "go1": (1100.0, 1600.0)},
        )
    if task == "zero_gap":
        return Timeline(
            1600.0,
            1000.0,
            1000.0,
            (1000.0, 1100.0),
            True,
            epochs_ms={"fix1": (0.0, 1000.0), "stim1": (1000.0, 1100.0), "go1": (1000.0, 1600.0)},
        )
    if task in ("gap", "gap500"):
        gap = 100.0 if task == "gap" else 500.0
        onset = 1000.0 + gap
        return Timeline(
            onset + 600.0,
            1000.0,
            onset,
            (onset, onset + 100.0),
            True,
            epochs_ms={
                "fix1": (0.0, 1000.0),
                "delay1": (1000.0, onset),
                "stim1": (onset, onset + 100.0),
                "go1": (onset, onset + 600.0),
            },
        )
    raise ValueError(f"unknown maturation task {task!r}; choose one of {TASKS}")


def to_steps(ms: float, dt_ms: float) -> int:
    """``ms`` in whole steps; a duration that is not a multiple of ``dt_ms`` is an error."""
    steps = ms / dt_ms
    if abs(steps - round(steps)) > 1e-6:
        raise ValueError(f"duration {ms} ms is not a multiple of dt_ms = {dt_ms}")
    return int(round(steps))


def epochs_steps(task: str, dt_ms: float, odr_delay_ms: float = 1500.0) -> dict[str, tuple]:
    """Named epochs as (start, end) step indices."""
    tl = timeline(task, odr_delay_ms)
    return {k: (to_steps(a, dt_ms), to_steps(b, dt_ms)) for k, (a, b) in tl.epochs_ms.items()}


def ring_bump(angles: np.ndarray) -> np.ndarray:
    """(B, 8) Gaussian bump 0.8·exp(−d²/(2(π/8)²)) around each angle, d circular."""
    d = np.angle(np.exp(1j * (np.asarray(angles)[:, None] - PREF_ANGLES[None, :])))
    return STIM_AMPLITUDE * np.exp(-(d**2) / (2 * BUMP_SIGMA**2))


@dataclass
class Batch:
    """One batch of one task; arrays are float32, (B, T, ·)."""

    task: str
    inputs: np.ndarray
    targets: np.ndarray
    mask: np.ndarray
    stim_angle: np.ndarray
    target_angle: np.ndarray
    distract_angle: np.ndarray | None
    locations: np.ndarray | None  # test mode: cue location index per trial
    epochs: dict[str, tuple[int, int]]
    go_step: int
    dt_ms: float


def make_batch(
    task: str,
    rng: np.random.Generator,
    *,
    dt_ms: float,
    batch_size: int = 64,
    mode: str = "random",
    n_repeats: int = 16,
    odr_delay_ms: float = 1500.0,
    distractor_locs: np.ndarray | None = None,
) -> Batch:
    """Generate one batch of ``task`` (see module docstring for the modes)."""
    if mode not in ("random", "test"):
        raise ValueError(f"mode must be 'random' or 'test', got {mode!r}")
    tl = timeline(task, odr_delay_ms)
    n_steps = to_steps(tl.total_ms, dt_ms)
    locations = None
    if mode == "random":
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        stim = rng.uniform(0.0, 2 * np.pi, batch_size)
    else:
        if n_repeats < 1:
            raise ValueError(f"n_repeats must be >= 1, got {n_repeats}")
        locations = np.repeat(np.arange(N_RING), n_repeats)
        stim = 2 * np.pi * locations / N_RING
    b = stim.size
    target = np.mod(stim + np.pi, 2 * np.pi) if tl.anti else stim.copy()

    x = np.zeros((b, n_steps, N_INPUT), np.float32)
    fix_off = to_steps(tl.fix_off_ms, dt_ms)
    go = to_steps(tl.go_ms, dt_ms)
    x[:, :fix_off, 0] = 1.0
    s0, s1 = (to_steps(v, dt_ms) for v in tl.stim_ms)
    x[:, s0:s1, 1:RULE_START] += ring_bump(stim)[:, None, :]
    distract = None
    if tl.distract_ms is not None:
        if mode == "random":
            k = int(rng.integers(1, N_RING))  # one offset per batch, never 0
            distract = np.mod(stim + k * 2 * np.pi / N_RING, 2 * np.pi)
        elif distractor_locs is None:
            distract = np.mod(stim + np.pi, 2 * np.pi)
        else:
            dl = np.broadcast_to(np.asarray(distractor_locs), (b,))
            distract = 2 * np.pi * dl / N_RING
        d0, d1 = (to_steps(v, dt_ms) for v in tl.distract_ms)
        x[:, d0:d1, 1:RULE_START] += ring_bump(distract)[:, None, :]
    x[:, :, RULE_START + TASKS.index(task)] = 1.0

    y = np.full((b, n_steps, N_OUTPUT), TARGET_LOW, np.float32)
    y[:, :go, 0] = TARGET_HIGH
    y[:, go:, 1:] += ring_bump(target)[:, None, :]

    skip = to_steps(MASK_SKIP_MS, dt_ms)
    grace = to_steps(GRACE_MS, dt_ms)
    m = np.zeros((b, n_steps, N_OUTPUT), np.float32)
    m[:, skip:go, :] = 1.0
    m[:, go + grace :, :] = 5.0
    m[:, :, 0] *= 2.0
    return Batch(
        task,
        x,
        y,
        m,
        stim,
        target,
        distract,
        locations,
        epochs_steps(task, dt_ms, odr_delay_ms),
        go,
        dt_ms,
    )


def popvec_angle(ring_out: np.ndarray) -> np.ndarray:
    """Population-vector angle in [0, 2π) of (…, 8) ring outputs."""
    ring_out = np.asarray(ring_out)
    s = ring_out @ np.sin(PREF_ANGLES)
    c = ring_out @ np.cos(PREF_ANGLES)
    return np.mod(np.arctan2(s, c), 2 * np.pi)


def angular_error(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Absolute circular distance in [0, π]."""
    return np.abs(np.angle(np.exp(1j * (np.asarray(a) - np.asarray(b)))))


def correct_trials(outputs_last: np.ndarray, target_angle: np.ndarray) -> np.ndarray:
    """Per-trial success at the last step: not fixating (< 0.5) and popvec within 0.2π."""
    outputs_last = np.asarray(outputs_last)
    fixating = outputs_last[:, 0] > 0.5
    err = angular_error(popvec_angle(outputs_last[:, 1:]), target_angle)
    return (~fixating) & (err < PERF_TOLERANCE_RAD)
