"""Device choice: CUDA when present (or asked for), CPU otherwise."""

from __future__ import annotations

import torch


def pick_device(request: str = "auto") -> torch.device:
    """``auto`` → CUDA if available else CPU; ``cpu``/``cuda`` force one (cuda must exist)."""
    if request == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if request.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {request!r} requested but CUDA is not available")
    return torch.device(request)
