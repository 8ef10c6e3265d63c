"""Files: atomic writes, metrics JSON, curve CSV and safe checkpoints.

Every writer goes through a temporary file in the target directory and ``os.replace``,
so an interrupted job never leaves a half-written output that looks complete.
Checkpoints are plain dicts of tensors and primitives, read back with
``torch.load(weights_only=True)``: nothing is ever unpickled.
"""

from __future__ import annotations

import csv
import json
import math
import os
import tempfile
from collections.abc import Iterable, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch


@contextmanager
def _atomic_path(path: str | os.PathLike[str]):
    """Yield a temp path beside ``path``; move it into place only on success."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:  # data on disk before the rename makes it visible
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        dir_fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _plain(value: Any) -> Any:
    """Convert numpy/torch scalars and containers to JSON-native values (NaN -> None)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, torch.Tensor):
        return _plain(value.tolist())
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        f = float(value)
        return None if math.isnan(f) or math.isinf(f) else f
    return value


def write_json(path: str | os.PathLike[str], data: Mapping[str, Any]) -> None:
    with _atomic_path(path) as tmp, open(tmp, "w") as fh:
        json.dump(_plain(data), fh, indent=2, sort_keys=False)
        fh.write("\n")


def read_json(path: str | os.PathLike[str]) -> dict[str, Any]:
    with open(path) as fh:
        return json.load(fh)


def write_csv(
    path: str | os.PathLike[str], rows: Iterable[Mapping[str, Any]], columns: list[str]
) -> None:
    with _atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _plain(row.get(k)) for k in columns})


def atomic_write_npz(path: str | os.PathLike[str], arrays: Mapping[str, np.ndarray]) -> None:
    with _atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **{k: np.asarray(v) for k, v in arrays.items()})


def save_checkpoint(path: str | os.PathLike[str], payload: Mapping[str, Any]) -> None:
    """Atomically save a dict of tensors / primitives (no custom classes)."""
    with _atomic_path(path) as tmp:
        torch.save(dict(payload), tmp)


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, truncated, corrupted or not one of ours."""


def load_checkpoint(
    path: str | os.PathLike[str], map_location: str | torch.device = "cpu"
) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint`, never unpickling objects.

    Anything that is not a plain dict of tensors and primitives (a truncated file, random
    bytes, a pickle with custom classes) raises :class:`CheckpointError` naming the file.
    """
    if not Path(path).is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises several types for bad files
        reason = (str(err).splitlines() or [""])[0][:200]
        raise CheckpointError(
            f"checkpoint {path} cannot be read safely ({type(err).__name__}: {reason}); it is "
            "truncated, corrupted or not an rnnlab checkpoint. Delete or move it to start afresh."
        ) from err
    if not isinstance(payload, dict):
        raise CheckpointError(f"checkpoint {path} holds a {type(payload).__name__}, not a dict")
    return payload
