"""LRU allocation (seed: "age and usage of each slot ... overwriting stale or least recently used
slots") with Kaiser et al. (2017)'s age noise."""

from __future__ import annotations

import torch


def staleness(age: torch.Tensor, usage: torch.Tensor, usage_weight: float, noise: torch.Tensor | None = None) -> torch.Tensor:
    """How overwritable each slot is: ``s_i = age_i - usage_weight * usage_i (+ noise_i)``.

    Args:
      age, usage: ``(B, H, N)`` buffers; noise: ``(B, H, N)`` or ``None``.
    Returns:
      ``(B, H, N)``; the stalest slot has the largest value.
    """
    score = age - usage_weight * usage
    return score if noise is None else score + noise


def age_noise(shape: torch.Size, scale: float, device: torch.device) -> torch.Tensor:
    """Kaiser et al. (2017): uniform noise ``U(0, scale)`` added to ages so that parallel writers
    (and slots of equal age) do not all pick the same slot. ``(B, H, N)``."""
    return torch.rand(shape, device=device) * scale


def allocate(score: torch.Tensor, count: int) -> torch.Tensor:
    """The ``count`` stalest distinct slots, stalest first: the slots that ``count`` consecutive
    LRU writes would take when ages only change at the end of the chunk.

    Args:
      score: ``(B, H, N)`` staleness.
    Returns:
      ``(B, H, count)`` slot indices; write ``c`` of the chunk goes to ``[..., c]``.
    """
    return score.topk(count, dim=-1).indices
