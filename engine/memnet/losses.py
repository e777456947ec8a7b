"""The seed's regularisers: slot-utilisation entropy (L_util), memory pressure, read entropy."""

from __future__ import annotations

import math

import torch


def utilisation_loss(read_mass: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """``L_util`` from the average read weight per slot ``w_bar`` (over heads, batch and time).

    The seed maximises ``H(w_bar) = -sum_i w_bar_i log(w_bar_i + eps)``; as a loss we use
    ``1 - H(w_bar) / log N`` (0 when reads spread uniformly over the N slots, 1 when one slot takes all).

    Args:
      read_mass: ``(N,)`` summed read weights per slot index.
    Returns:
      scalar.
    """
    w_bar = read_mass / read_mass.sum().clamp_min(eps)
    entropy = -(w_bar * torch.log(w_bar + eps)).sum()
    return 1 - entropy / math.log(read_mass.numel()) if read_mass.numel() > 1 else entropy * 0


def read_entropy(weights: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Entropy (nats) of each read's top-k weights: ``(..., k) -> (...)``."""
    return -(weights * torch.log(weights + eps)).sum(dim=-1)


def memory_pressure(gate: torch.Tensor) -> torch.Tensor:
    """Global memory pressure: the mean write gate ``E[g]`` (how much is written per token per head)."""
    return gate.float().mean()
