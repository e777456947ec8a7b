"""The encoder, the seed's ``TransformerController`` and its memory interface (keys, gates, erase),
and the semantic bottleneck that filters what is written."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from engine.baselines.attention import CausalTransformer
from engine.memnet.bank import MemoryIO
from engine.memnet.config import MemNetConfig


class Encoder(nn.Module):
    """Processes the current input: token embedding ``e_t`` -> ``e_t + W LN(e_t)`` (+ ``U LN(e_{t-1})``
    with ``token_shift``, a causal width-2 convolution that hands each token its predecessor).
    ``(B, T) -> (B, T, d)``."""

    def __init__(self, config: MemNetConfig) -> None:
        super().__init__()
        self.embed = nn.Embedding(config.vocab_size, config.d_model)
        self.proj = nn.Sequential(nn.LayerNorm(config.d_model), nn.Linear(config.d_model, config.d_model))
        self.shift = nn.Sequential(nn.LayerNorm(config.d_model), nn.Linear(config.d_model, config.d_model)) if config.token_shift else None

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embed(tokens)
        out = x + self.proj(x)
        if self.shift is not None:
            out = out + self.shift(F.pad(x, (0, 0, 1, 0))[:, :-1])
        return out


class SemanticBottleneck(nn.Module):
    """MLP ``d -> bottleneck_dim -> H * D`` that compresses a hidden state into what is written
    (seed: "forces the model to extract invariant features before writing"). ``(B, T, d) -> (B, H, T, D)``."""

    def __init__(self, config: MemNetConfig) -> None:
        super().__init__()
        self.heads, self.dim = config.n_heads, config.slot_dim
        self.mlp = nn.Sequential(
            nn.Linear(config.d_model, config.bottleneck_dim), nn.GELU(), nn.Linear(config.bottleneck_dim, config.n_heads * config.slot_dim)
        )

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        b, t, _ = h.shape
        return self.mlp(h).reshape(b, t, self.heads, self.dim).transpose(1, 2)


class TransformerController(nn.Module):
    """Causal Transformer over a local ``window`` that decides what to read, write and forget.

    Emits per memory head: read key and strength, write key and strength, write gate ``g``,
    allocation share ``alpha`` and erase factors ``e`` (the value comes from the bottleneck).
    """

    def __init__(self, config: MemNetConfig) -> None:
        super().__init__()
        self.config = config
        self.body = CausalTransformer(config.d_model, config.n_layers, config.n_attn_heads, config.window)
        h, d = config.n_heads, config.slot_dim
        self.keys = nn.Linear(config.d_model, h * (2 * d + 2))
        self.gates = nn.Linear(config.d_model, h * 2)
        self.erase = nn.Linear(config.d_model, h * d) if config.erase else None
        self.bottleneck = SemanticBottleneck(config)
        # key strengths beta = 1 + softplus(x + b) start at strength_init
        self.strength_bias = math.log(math.expm1(config.strength_init - 1.0))
        with torch.no_grad():  # write gates g and allocation shares alpha start at their configured values
            self.gates.bias.view(h, 2)[:, 0] = math.log(config.write_gate_init / (1 - config.write_gate_init))
            self.gates.bias.view(h, 2)[:, 1] = math.log(config.alloc_gate_init / (1 - config.alloc_gate_init))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, MemoryIO]:
        """``x (B, T, d)`` -> hidden ``h (B, T, d)`` and the :class:`MemoryIO` for the memory."""
        cfg = self.config
        h = self.body(x)
        b, t, _ = h.shape
        heads, d = cfg.n_heads, cfg.slot_dim
        keys = self.keys(h).reshape(b, t, heads, 2 * d + 2).transpose(1, 2)
        read_key, write_key = keys[..., :d], keys[..., d : 2 * d]
        read_strength = 1 + F.softplus(keys[..., 2 * d] + self.strength_bias)
        write_strength = 1 + F.softplus(keys[..., 2 * d + 1] + self.strength_bias)
        gates = torch.sigmoid(self.gates(h).reshape(b, t, heads, 2).transpose(1, 2))
        if self.erase is not None:
            erase = torch.sigmoid(self.erase(h).reshape(b, t, heads, d).transpose(1, 2))
        else:
            erase = torch.zeros(b, heads, t, d, device=h.device, dtype=h.dtype)
        io = MemoryIO(read_key, read_strength, write_key, write_strength, self.bottleneck(h), gates[..., 0], gates[..., 1], erase)
        return h, io
