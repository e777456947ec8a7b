"""Gated writes with learned erase factors as a residual update, slot-wise decay, and the age,
usage and lifetime buffers."""

from __future__ import annotations

import torch


def write_weights(
    gate: torch.Tensor, alloc_gate: torch.Tensor, update_weights: torch.Tensor, floor: float | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Split a gated write between a freshly allocated slot and the addressed (existing) slots.

    Args:
      gate: ``(B, H, C)`` write gate ``g`` (0 = do not write).
      alloc_gate: ``(B, H, C)`` ``alpha``: share going to the allocated slot.
      update_weights: ``(B, H, C, k)`` top-k write-addressing weights ``w^u``.
      floor: when given, weights under it are dropped (hard, sparse writes; no gradient flows
        through a dropped write).
    Returns:
      ``a = g * alpha`` ``(B, H, C)`` and ``u = g * (1 - alpha) * w^u`` ``(B, H, C, k)``.
    """
    a, u = gate * alloc_gate, (gate * (1 - alloc_gate)).unsqueeze(-1) * update_weights
    if floor is not None:
        a, u = a * (a >= floor), u * (u >= floor)
    return a, u


def erase_and_add(
    memory: torch.Tensor, idx: torch.Tensor, weights: torch.Tensor, erase: torch.Tensor, value: torch.Tensor
) -> torch.Tensor:
    """Residual update ``M <- M * (1 - E) + A`` with ``E_i = min(1, sum_c w_ci e_c)`` and
    ``A_i = sum_c w_ci v_c`` (NTM erase/add accumulated over a chunk's writes; exact for one write).

    Args:
      memory: ``(B, H, N, D)``.
      idx: ``(B, H, W)`` slot of each write; weights: ``(B, H, W)``.
      erase: ``(B, H, W, D)`` erase factors ``e`` in [0, 1]; value: ``(B, H, W, D)`` ``v``.
    Returns:
      the new ``(B, H, N, D)`` memory.
    """
    d = memory.shape[-1]
    index = idx.unsqueeze(-1).expand(*idx.shape, d)
    w = weights.unsqueeze(-1)
    erased = torch.zeros_like(memory).scatter_add(2, index, (w * erase).to(memory.dtype)).clamp(max=1.0)
    added = torch.zeros_like(memory).scatter_add(2, index, (w * value).to(memory.dtype))
    return memory * (1 - erased) + added


def write_keys(keys: torch.Tensor, idx: torch.Tensor, weights: torch.Tensor, write_key: torch.Tensor, per_token: int) -> torch.Tensor:
    """Slot keys follow the writes: ``K <- K * (1 - min(1, sum_c w_ci)) + sum_c w_ci k_c / |k_c|``
    (:func:`erase_and_add` with erase factors 1 and the unit write keys as values).

    Args:
      keys: ``(B, H, N, D)`` slot keys ``K``.
      idx, weights: ``(B, H, C * per_token)`` the chunk's writes, ``per_token`` consecutive ones per token.
      write_key: ``(B, H, C, D)`` the tokens' write keys ``k``.
    Returns:
      the new ``(B, H, N, D)`` keys.
    """
    b, h, c, d = write_key.shape
    unit = torch.nn.functional.normalize(write_key, dim=-1, eps=1e-8).unsqueeze(3).expand(b, h, c, per_token, d).reshape(b, h, c * per_token, d)
    return erase_and_add(keys, idx, weights, torch.ones_like(unit), unit)


def decay(memory: torch.Tensor, retention: torch.Tensor, steps: int) -> torch.Tensor:
    """Slot-wise learnable decay ``M_i <- gamma_i ** steps * M_i``.

    Args:
      memory: ``(B, H, N, D)``; retention: ``(H, N)`` ``gamma = sigmoid(theta)`` per token.
    Returns:
      ``(B, H, N, D)``.
    """
    return memory * (retention**steps).unsqueeze(-1).to(memory.dtype)


def scatter_mass(n_slots: int, idx: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Total weight each slot received: ``(B, H, N)`` from ``idx, weights (B, H, ...)``."""
    b, h = idx.shape[:2]
    out = torch.zeros(b, h, n_slots, device=idx.device, dtype=torch.float32)
    return out.scatter_add(2, idx.reshape(b, h, -1), weights.reshape(b, h, -1).float())


def update_usage(usage: torch.Tensor, read_mass: torch.Tensor, write_mass: torch.Tensor, usage_decay: float) -> torch.Tensor:
    """``u <- usage_decay * u + read mass + write mass``, all ``(B, H, N)``."""
    return usage_decay * usage + read_mass + write_mass


def update_age(age: torch.Tensor, written: torch.Tensor, steps: int) -> torch.Tensor:
    """Ages grow by ``steps`` tokens; an allocated slot restarts at 0. ``(B, H, N)``; written bool."""
    return torch.where(written, torch.zeros_like(age), age + steps)


def update_lifetimes(
    live: torch.Tensor, retention: torch.Tensor, written: torch.Tensor, step_retention: torch.Tensor, floor: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Track each slot's content life.

    Args:
      live: ``(B, H, N)`` bool, slot holds content; retention: ``(B, H, N)`` product of decay since
        the content was written; written: ``(B, H, N)`` bool, allocated this chunk;
        step_retention: ``(H, N)`` ``gamma ** steps``; floor: retention under which content has
        decayed away.
    Returns:
      ``live', retention', decayed``: decayed ``(B, H, N)`` bool marks content that crossed the floor.
    """
    kept = retention * step_retention
    decayed = live & ~written & (kept < floor)
    return (live | written) & ~decayed, torch.where(written, torch.ones_like(kept), kept), decayed
