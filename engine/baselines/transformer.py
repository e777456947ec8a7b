"""Transformer baselines without memory: full causal context, or a sliding window of ``W`` tokens."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from engine.baselines.attention import CausalTransformer
from engine.models import ModelConfigError, ModelOutput
from tracing.recorder import NULL_RECORDER, Recorder


@dataclass
class TransformerConfig:
    """A causal Transformer LM; ``window=None`` attends to the full context."""

    vocab_size: int = 64
    d_model: int = 64
    n_layers: int = 2
    n_attn_heads: int = 4
    window: int | None = None

    def __post_init__(self) -> None:
        if self.d_model % self.n_attn_heads:
            raise ModelConfigError("transformer: d_model must be divisible by n_attn_heads")
        if self.window is not None and self.window < 1:
            raise ModelConfigError(f"transformer: window must be positive (got {self.window})")


@dataclass
class WindowTransformerConfig(TransformerConfig):
    """The sliding-window Transformer: each token sees the last ``window`` tokens."""

    window: int | None = 64

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.window is None:
            raise ModelConfigError("transformer-window: window must be set")


class TransformerLM(nn.Module):
    """Embedding -> :class:`CausalTransformer` -> linear head. No memory; ``state`` stays ``None``."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.d_model)
        self.body = CausalTransformer(config.d_model, config.n_layers, config.n_attn_heads, config.window)
        self.head = nn.Linear(config.d_model, config.vocab_size)

    def forward(self, tokens: torch.Tensor, *, recorder: Recorder = NULL_RECORDER, state: object = None, step_offset: int = 0) -> ModelOutput:
        """``tokens (B, T) -> logits (B, T, V)``."""
        return ModelOutput(self.head(self.body(self.embed(tokens))), {}, None)
