"""The memory state carried across chunks, calls and (when asked) episodes."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class MemoryState:
    """Slot contents and their bookkeeping buffers, all per batch row and head.

    - ``memory (B, H, N, D)``: slot contents ``M``.
    - ``age (B, H, N)``: tokens since each slot was last allocated.
    - ``usage (B, H, N)``: decayed sum of read and write weights.
    - ``retention (B, H, N)``: product of decay factors since the content was written.
    - ``live (B, H, N)`` bool: the slot holds content (written, not evicted or decayed away).
    - ``keys (B, H, N, D)`` or ``None``: slot keys ``K`` (only with ``slot_keys``).
    - ``step``: tokens processed so far (the next call's first step).
    """

    memory: torch.Tensor
    age: torch.Tensor
    usage: torch.Tensor
    retention: torch.Tensor
    live: torch.Tensor
    step: int = 0
    keys: torch.Tensor | None = None

    @classmethod
    def empty(cls, batch: int, heads: int, slots: int, dim: int, device: torch.device, keyed: bool = False) -> "MemoryState":
        zeros = torch.zeros(batch, heads, slots, device=device)
        return cls(
            keys=torch.zeros(batch, heads, slots, dim, device=device) if keyed else None,
            memory=torch.zeros(batch, heads, slots, dim, device=device),
            age=zeros.clone(),
            usage=zeros.clone(),
            retention=torch.ones_like(zeros),
            live=torch.zeros(batch, heads, slots, dtype=torch.bool, device=device),
        )

    def detach(self) -> "MemoryState":
        """The same state cut from the autograd graph (to carry it across training episodes)."""
        keys = self.keys.detach() if self.keys is not None else None
        return MemoryState(self.memory.detach(), self.age, self.usage, self.retention, self.live, self.step, keys)
