"""``MemNet``: encoder -> Transformer controller -> (bottleneck) -> multi-head slot memory ->
residual fusion -> prediction head (seed 002's architecture)."""

from __future__ import annotations

import torch
from torch import nn

from engine.memnet import losses
from engine.memnet.bank import MultiHeadMemoryBank
from engine.memnet.config import MemNetConfig
from engine.memnet.controller import Encoder, TransformerController
from engine.memnet.state import MemoryState
from engine.memnet.trace import emit_records
from engine.models import ModelOutput
from tracing.recorder import NULL_RECORDER, Recorder


class ResidualFusion(nn.Module):
    """Fuse the current read into the history: ``z = h + W LN(r)`` over the concatenated heads.
    ``h (B, T, d)``, ``reads (B, H, T, D)`` -> ``(B, T, d)``."""

    def __init__(self, config: MemNetConfig) -> None:
        super().__init__()
        self.proj = nn.Linear(config.n_heads * config.slot_dim, config.d_model)

    def forward(self, h: torch.Tensor, reads: torch.Tensor) -> torch.Tensor:
        b, heads, t, d = reads.shape
        return h + self.proj(reads.transpose(1, 2).reshape(b, t, heads * d).to(h.dtype))


class MemNet(nn.Module):
    """The end-to-end model. ``state`` (a :class:`MemoryState`) carries the memory across calls."""

    def __init__(self, config: MemNetConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.controller = TransformerController(config)
        self.memory = MultiHeadMemoryBank(config)
        self.fusion = ResidualFusion(config)
        self.head = nn.Sequential(nn.LayerNorm(config.d_model), nn.Linear(config.d_model, config.vocab_size))

    def forward(
        self, tokens: torch.Tensor, *, recorder: Recorder = NULL_RECORDER, state: MemoryState | None = None, step_offset: int = 0
    ) -> ModelOutput:
        """``tokens (B, T)`` -> ``logits (B, T, V)``, weighted aux losses and the new state.

        Every memory operation is recorded through ``recorder`` after the forward pass (one host
        copy per call, none per step); recording never changes the outputs.
        """
        cfg = self.config
        if state is None:
            state = self.memory.initial_state(tokens.shape[0], tokens.device)
        h, io = self.controller(self.encoder(tokens))
        reads, new_state, stats, records = self.memory(io, state, record=recorder.enabled)
        logits = self.head(self.fusion(h, reads))
        aux = {
            "util": cfg.util_weight * losses.utilisation_loss(stats.read_mass),
            "pressure": cfg.pressure_weight * losses.memory_pressure(io.gate),
        }
        if cfg.read_entropy_weight:
            aux["read_entropy"] = cfg.read_entropy_weight * stats.read_entropy_sum / max(stats.n_reads, 1)
        if recorder.enabled:
            emit_records(recorder, records, step_offset=step_offset, write_floor=cfg.write_floor)
        return ModelOutput(logits, aux, new_state)
