"""Shared figure style: one colour per population / tempo family, labelled axes."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

POPULATION_COLOURS = {
    "E": "#c0392b",
    "I": "#2471a3",
    "output": "#111111",
    "target": "#7f8c8d",
    "pulses": "#e67e22",
    "cue": "#27ae60",
    "train": "#2471a3",
    "validation": "#c0392b",
}


def tempo_colours(n: int) -> list:
    """A sequential colour per tempo, slow (dark) to fast (light)."""
    cmap = plt.get_cmap("viridis")
    return [cmap(i / max(1, n - 1) * 0.9) for i in range(n)]


_DPI = {"value": 130}


def set_dpi(dpi: int) -> None:
    """Resolution of every figure saved afterwards (the ``figures.dpi`` param)."""
    _DPI["value"] = int(dpi)


def save(fig: plt.Figure, path: str) -> None:
    from pathlib import Path

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=_DPI["value"], bbox_inches="tight")
    plt.close(fig)
