"""A naive step-by-step reference of the slot memory: one token and one head at a time, dense
``(B, N)`` weight vectors, no chunking. It defines the memory's semantics for ``chunk_size=1``
(tests check the vectorised bank against it) and is the baseline of ``bench/memnet_throughput.py``."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from engine.memnet.bank import MemoryIO, MultiHeadMemoryBank
from engine.memnet.state import MemoryState


def _dense_topk_softmax(scores: torch.Tensor, k: int) -> torch.Tensor:
    """``(B, N)`` scores -> dense ``(B, N)`` weights: softmax over the k largest, 0 elsewhere."""
    kth = scores.topk(k, dim=-1).values[:, -1:]
    return torch.softmax(scores.masked_fill(scores < kth, float("-inf")), dim=-1)


def naive_memory(bank: MultiHeadMemoryBank, io: MemoryIO, state: MemoryState) -> tuple[torch.Tensor, MemoryState]:
    """Run the memory token by token and head by head. Returns LayerNormed ``reads (B, H, T, D)`` and
    the final state (age noise is not applied: call it with the bank in eval mode)."""
    cfg = bank.config
    memory = state.memory.clone()
    keys = state.keys.clone() if cfg.slot_keys else None
    age, usage, retention, live = state.age.clone(), state.usage.clone(), state.retention.clone(), state.live.clone()
    gamma = bank.retention()
    heads, total = io.read_key.shape[1], io.read_key.shape[2]
    reads = []
    for t in range(total):
        read_t = []
        new_memory, new_keys = [], []
        for h in range(heads):
            m = memory[:, h]  # (B, N, D)
            unit = F.normalize(keys[:, h] if keys is not None else m, dim=-1, eps=1e-8)
            q = F.normalize(io.read_key[:, h, t], dim=-1, eps=1e-8)
            w_read = _dense_topk_softmax(io.read_strength[:, h, t, None] * torch.einsum("bd,bnd->bn", q, unit), cfg.top_k)
            read_t.append(torch.einsum("bn,bnd->bd", w_read, m))
            kw = F.normalize(io.write_key[:, h, t], dim=-1, eps=1e-8)
            w_upd = _dense_topk_softmax(io.write_strength[:, h, t, None] * torch.einsum("bd,bnd->bn", kw, unit), cfg.top_k)
            slot = (age[:, h] - cfg.usage_weight * usage[:, h]).argmax(dim=-1)
            onehot = F.one_hot(slot, cfg.n_slots).to(m.dtype)
            g, alpha = io.gate[:, h, t, None], io.alloc_gate[:, h, t, None]
            a, u = g * alpha, g * (1 - alpha) * w_upd
            if cfg.hard_writes:
                a, u = a * (a >= cfg.write_floor), u * (u >= cfg.write_floor)
            w_write = a * onehot + u
            if gamma is not None:
                m = m * gamma[h].unsqueeze(-1)
            erase = (w_write.unsqueeze(-1) * io.erase[:, h, t].unsqueeze(1)).clamp(max=1.0)
            m = m * (1 - erase) + w_write.unsqueeze(-1) * io.value[:, h, t].unsqueeze(1)
            new_memory.append(m)
            if keys is not None:
                w_key = w_write.unsqueeze(-1).clamp(max=1.0)
                new_keys.append(keys[:, h] * (1 - w_key) + w_write.unsqueeze(-1) * kw.unsqueeze(1))
            with torch.no_grad():
                written = onehot.bool() & (a >= cfg.write_floor)
                usage[:, h] = cfg.usage_decay * usage[:, h] + w_read.detach() + w_write.detach()
                age[:, h] = torch.where(written, torch.zeros_like(age[:, h]), age[:, h] + 1)
                kept = retention[:, h] * (gamma[h].detach() if gamma is not None else 1.0)
                decayed = live[:, h] & ~written & (kept < cfg.decay_floor)
                live[:, h] = (live[:, h] | written) & ~decayed
                retention[:, h] = torch.where(written, torch.ones_like(kept), kept)
        memory = torch.stack(new_memory, dim=1)
        keys = torch.stack(new_keys, dim=1) if keys is not None else None
        reads.append(torch.stack(read_t, dim=1))
    out = bank.read_norm(torch.stack(reads, dim=2))
    return out, MemoryState(memory, age, usage, retention, live, state.step + total, keys)
