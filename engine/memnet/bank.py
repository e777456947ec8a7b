"""``MultiHeadMemoryBank``: the seed's slot memory, stepped once per chunk of tokens."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from engine.memnet import addressing, allocation, losses, update
from engine.memnet.config import MemNetConfig
from engine.memnet.state import MemoryState


@dataclass
class MemoryIO:
    """What the controller asks of the memory for ``T`` tokens, per memory head.

    ``read_key, write_key, value, erase``: ``(B, H, T, D)``; ``read_strength, write_strength, gate,
    alloc_gate``: ``(B, H, T)``. Strengths are ``beta >= 1``; gates and erase factors lie in [0, 1].
    """

    read_key: torch.Tensor
    read_strength: torch.Tensor
    write_key: torch.Tensor
    write_strength: torch.Tensor
    value: torch.Tensor
    gate: torch.Tensor
    alloc_gate: torch.Tensor
    erase: torch.Tensor

    def chunk(self, start: int, stop: int) -> "MemoryIO":
        return MemoryIO(*(t[:, :, start:stop] for t in vars(self).values()))


@dataclass
class ChunkRecord:
    """Dense, detached record of one chunk (``c`` tokens from token ``start``) for tracing and analysis.

    ``read_idx, read_w, update_idx, update_w (B, H, c, k)``; ``alloc_idx, alloc_w, gate, erase,
    evicted (B, H, c)``; ``decayed, age, usage, norm (B, H, N)`` (after the chunk).
    """

    start: int
    read_idx: torch.Tensor
    read_w: torch.Tensor
    alloc_idx: torch.Tensor
    alloc_w: torch.Tensor
    gate: torch.Tensor
    erase: torch.Tensor
    evicted: torch.Tensor
    update_idx: torch.Tensor
    update_w: torch.Tensor
    decayed: torch.Tensor
    age: torch.Tensor
    usage: torch.Tensor
    norm: torch.Tensor


@dataclass
class MemoryStats:
    """Differentiable summaries for the losses: ``read_mass (N,)`` (summed read weight per slot index)
    and the summed entropy of ``n_reads`` reads."""

    read_mass: torch.Tensor
    read_entropy_sum: torch.Tensor
    n_reads: int = 0


class MultiHeadMemoryBank(nn.Module):
    """``n_heads`` banks of ``n_slots x slot_dim`` with top-k cosine reads, gated LRU/addressed writes,
    learned erase, slot-wise learnable decay, age/usage buffers and LayerNorm on reads."""

    def __init__(self, config: MemNetConfig) -> None:
        super().__init__()
        self.config = config
        h, n = config.n_heads, config.n_slots
        if config.decay:
            logit = math.log(config.decay_init / (1 - config.decay_init))
            self.decay_logit = nn.Parameter(torch.full((h, n), logit))
        self.read_norm = nn.LayerNorm(config.slot_dim)

    def retention(self) -> torch.Tensor | None:
        """Per-token retention ``gamma = sigmoid(theta)`` ``(H, N)``, or ``None`` with decay ablated."""
        return torch.sigmoid(self.decay_logit) if self.config.decay else None

    def initial_state(self, batch: int, device: torch.device) -> MemoryState:
        c = self.config
        return MemoryState.empty(batch, c.n_heads, c.n_slots, c.slot_dim, device, keyed=c.slot_keys)

    def forward(self, io: MemoryIO, state: MemoryState, record: bool = False) -> tuple[torch.Tensor, MemoryState, MemoryStats, list[ChunkRecord]]:
        """Run the memory over ``T`` tokens, one step per chunk.

        Returns ``reads (B, H, T, D)`` (LayerNormed), the final state, loss statistics and (when
        ``record``) one :class:`ChunkRecord` per chunk.
        """
        c = self.config
        total = io.read_key.shape[2]
        device = io.read_key.device
        stats = MemoryStats(
            read_mass=torch.zeros(c.n_slots, device=device),
            read_entropy_sum=torch.zeros((), device=device),
        )
        reads, records = [], []
        for start in range(0, total, c.chunk_size):
            stop = min(start + c.chunk_size, total)
            read, state, record_ = self.step(io.chunk(start, stop), state, stats, start, record)
            reads.append(read)
            if record_ is not None:
                records.append(record_)
        return self.read_norm(torch.cat(reads, dim=2)), state, stats, records

    def step(self, io: MemoryIO, state: MemoryState, stats: MemoryStats, start: int, record: bool) -> tuple[torch.Tensor, MemoryState, ChunkRecord | None]:
        """One memory step for a chunk of ``c`` tokens (reads see the memory as it was before the chunk)."""
        cfg = self.config
        steps = io.read_key.shape[2]
        memory = state.memory
        # keys are compared with the slot keys K (slot_keys) or with the contents M themselves
        space = state.keys if cfg.slot_keys else memory
        # read: top-k cosine addressing, softmax over the k
        read_idx, read_w = addressing.address(io.read_key, io.read_strength, space, cfg.top_k)
        read = addressing.sparse_read(memory, read_idx, read_w)
        # write: addressed slots (residual update) and LRU allocation of fresh slots
        update_idx, update_w = addressing.address(io.write_key, io.write_strength, space, cfg.top_k)
        noise = allocation.age_noise(state.age.shape, cfg.age_noise, state.age.device) if self.training and cfg.age_noise > 0 else None
        alloc_idx = allocation.allocate(allocation.staleness(state.age, state.usage, cfg.usage_weight, noise), steps)
        alloc_w, upd_w = update.write_weights(io.gate, io.alloc_gate, update_w, cfg.write_floor if cfg.hard_writes else None)
        b, h = alloc_idx.shape[:2]
        write_idx = torch.cat([alloc_idx.unsqueeze(-1), update_idx], dim=-1).reshape(b, h, -1)
        write_w = torch.cat([alloc_w.unsqueeze(-1), upd_w], dim=-1).reshape(b, h, -1)
        k1 = cfg.top_k + 1
        erase = io.erase.unsqueeze(3).expand(-1, -1, -1, k1, -1).reshape(b, h, steps * k1, -1)
        value = io.value.unsqueeze(3).expand(-1, -1, -1, k1, -1).reshape(b, h, steps * k1, -1)
        retention = self.retention()
        step_retention = retention**steps if retention is not None else torch.ones(h, cfg.n_slots, device=memory.device)
        if retention is not None:
            memory = update.decay(memory, retention, steps)
        memory = update.erase_and_add(memory, write_idx, write_w, erase, value)
        keys = update.write_keys(state.keys, write_idx, write_w, io.write_key, k1) if cfg.slot_keys else None
        # bookkeeping buffers (no gradient)
        with torch.no_grad():
            allocated = (alloc_w >= cfg.write_floor).float()
            written = update.scatter_mass(cfg.n_slots, alloc_idx, allocated) > 0
            evicted = (allocated > 0) & state.live.gather(2, alloc_idx)
            read_mass = update.scatter_mass(cfg.n_slots, read_idx, read_w.detach())
            write_mass = update.scatter_mass(cfg.n_slots, write_idx, write_w.detach())
            usage = update.update_usage(state.usage, read_mass, write_mass, cfg.usage_decay)
            age = update.update_age(state.age, written, steps)
            live, kept, decayed = update.update_lifetimes(state.live, state.retention, written, step_retention.detach(), cfg.decay_floor)
        stats.read_mass = stats.read_mass + update.scatter_mass(cfg.n_slots, read_idx, read_w).sum(dim=(0, 1))
        stats.read_entropy_sum = stats.read_entropy_sum + losses.read_entropy(read_w).sum()
        stats.n_reads += read_w.shape[0] * read_w.shape[1] * read_w.shape[2]
        new_state = MemoryState(memory, age, usage, kept, live, state.step + steps, keys)
        rec = None
        if record:
            rec = ChunkRecord(
                start=start,
                read_idx=read_idx,
                read_w=read_w.detach().float(),
                alloc_idx=alloc_idx,
                alloc_w=alloc_w.detach().float(),
                gate=io.gate.detach().float(),
                erase=io.erase.detach().float().mean(dim=-1),
                evicted=evicted,
                update_idx=update_idx,
                update_w=upd_w.detach().float(),
                decayed=decayed,
                age=age.clone(),
                usage=usage.clone(),
                norm=memory.detach().float().norm(dim=-1),
            )
        return read, new_state, rec
