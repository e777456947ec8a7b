"""Pick the compute device and its mixed-precision mode: CUDA with bf16 autocast, else CPU in fp32."""

from __future__ import annotations

import contextlib
from typing import ContextManager

import torch


class DeviceError(ValueError):
    """The requested device is not available here."""


def pick_device(requested: str | None = None) -> torch.device:
    """``None``/``"auto"``: CUDA when present, else CPU. ``"cuda"`` without a GPU is refused."""
    if requested in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(requested)
    except RuntimeError as exc:
        raise DeviceError(f"unknown device {requested!r} (use auto, cpu or cuda)") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError("CUDA was requested but no CUDA GPU is available (use --device cpu)")
    if device.type not in ("cpu", "cuda"):
        raise DeviceError(f"unsupported device {requested!r} (use auto, cpu or cuda)")
    return device


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """bf16 on CUDA; ``None`` (full fp32) on CPU."""
    return torch.bfloat16 if device.type == "cuda" else None


def autocast(device: torch.device) -> ContextManager:
    """A bf16 autocast context on CUDA, a no-op on CPU."""
    dtype = autocast_dtype(device)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def describe(device: torch.device) -> str:
    """Human-readable device name for traces and reports, e.g. ``cuda:0 (NVIDIA H100 80GB HBM3)``."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    return "cpu"
