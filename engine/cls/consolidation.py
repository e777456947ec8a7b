"""Semantic consolidation (seed 1.5): replay stored (k_i, v_i) into the slow weights.

High-confidence writes (gate ``g_i >= threshold``) are kept with the representation ``h_i`` that
made them. Replay fine-tunes the slow weights with the seed's loss, averaged over the replayed i:

    L_replay = || W_Q h_i - k_i ||^2 + || FFN(h_i) - v_i ||^2

so the slow query projection learns to produce the key that was bound (W_Q h_i -> k_i) and the
FFN learns the value itself (semantic memory of the episode).
"""

from __future__ import annotations

import torch
from torch import Tensor


def replay_loss(W_Q: Tensor, b_Q: Tensor | None, ffn: torch.nn.Module, h: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """``mean_i ||W_Q h_i - k_i||^2 + ||FFN(h_i) - v_i||^2``.

    ``W_Q (d, d)``, ``b_Q (d,)`` or None, ``h, k, v (N, d)`` (heads concatenated) -> scalar.
    """
    q = h @ W_Q.T + (b_Q if b_Q is not None else 0.0)
    return ((q - k) ** 2).sum(-1).mean() + ((ffn(h) - v) ** 2).sum(-1).mean()


class ReplayBuffer:
    """Per layer, up to ``capacity`` stored ``(h_i, k_i, v_i)`` (each ``(d,)``) of the current task,
    newest kept (FIFO); :meth:`end_task` archives them, so every past task keeps ``capacity`` writes.

    ``weight`` scales the returned loss; ``sample_size`` pairs per layer are replayed per training step.
    """

    name = "replay"

    def __init__(self, capacity: int = 4096, threshold: float = 0.5, weight: float = 1.0, sample_size: int = 256, seed: int = 0) -> None:
        self.capacity, self.threshold, self.weight, self.sample_size = capacity, threshold, weight, sample_size
        self.store: dict[int, tuple[Tensor, Tensor, Tensor]] = {}
        self.archive: dict[int, tuple[Tensor, Tensor, Tensor]] = {}
        self.generator = torch.Generator().manual_seed(seed)
        self.frozen = False  # True: replay what is stored, add nothing new

    def add(self, layer: int, h: Tensor, k: Tensor, v: Tensor, g: Tensor) -> int:
        """Keep the writes with ``g >= threshold``. ``h, k, v (B, T, d)``, ``g (B, T)``; returns how many."""
        keep = g >= self.threshold
        rows = [x[keep].detach() for x in (h, k, v)]
        if layer in self.store:
            rows = [torch.cat([old, new])[-self.capacity :] for old, new in zip(self.store[layer], rows)]
        else:
            rows = [x[-self.capacity :] for x in rows]
        self.store[layer] = tuple(rows)  # type: ignore[assignment]
        return int(keep.sum())

    def __len__(self) -> int:
        return sum(h.shape[0] for part in (self.store, self.archive) for h, _, _ in part.values())

    def end_task(self) -> None:
        """Move the current task's writes to the archive (replayed from then on, never overwritten)."""
        for layer, rows in self.store.items():
            old = self.archive.get(layer)
            self.archive[layer] = rows if old is None else tuple(torch.cat([a, b]) for a, b in zip(old, rows))  # type: ignore[assignment]
        self.store = {}

    def _stored(self, layer: int) -> tuple[Tensor, Tensor, Tensor] | None:
        parts = [p[layer] for p in (self.archive, self.store) if layer in p]
        if not parts:
            return None
        return tuple(torch.cat(xs) for xs in zip(*parts)) if len(parts) > 1 else parts[0]  # type: ignore[return-value]

    def collect(self, model: torch.nn.Module) -> None:
        """Add the last writes of every fast-weight layer of ``model`` (``keep_writes`` must be on)."""
        for attn in model.fast_layers():
            if attn.last_writes is not None:
                self.add(attn.layer, *attn.last_writes)

    def loss(self, model: torch.nn.Module) -> Tensor | None:
        """The weighted replay loss over a random sample of every layer's store (None when empty)."""
        total = None
        for block in model.blocks:
            stored = self._stored(block.layer)
            if stored is None or stored[0].shape[0] == 0:
                continue
            n = stored[0].shape[0]
            idx = torch.randperm(n, generator=self.generator)[: self.sample_size].to(stored[0].device)
            h, k, v = (x[idx] for x in stored)
            d = h.shape[-1]
            W = block.attn.W_QKV
            loss = replay_loss(W.weight[:d], W.bias[:d], block.ffn, h, k, v)
            total = loss if total is None else total + loss
        return None if total is None else self.weight * total
