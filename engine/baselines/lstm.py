"""LSTM baseline: embedding -> LSTM -> linear head. Its hidden state is the ``state`` it carries."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from engine.models import ModelConfigError, ModelOutput
from tracing.recorder import NULL_RECORDER, Recorder


@dataclass
class LSTMConfig:
    vocab_size: int = 64
    d_model: int = 64
    hidden: int = 160
    n_layers: int = 1

    def __post_init__(self) -> None:
        if self.hidden < 1 or self.n_layers < 1:
            raise ModelConfigError("lstm: hidden and n_layers must be positive")


class LSTMLM(nn.Module):
    def __init__(self, config: LSTMConfig) -> None:
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.d_model)
        self.lstm = nn.LSTM(config.d_model, config.hidden, config.n_layers, batch_first=True)
        self.head = nn.Linear(config.hidden, config.vocab_size)

    def forward(self, tokens: torch.Tensor, *, recorder: Recorder = NULL_RECORDER, state: tuple[torch.Tensor, torch.Tensor] | None = None, step_offset: int = 0) -> ModelOutput:
        """``tokens (B, T) -> logits (B, T, V)``; ``state = (h, c)`` each ``(layers, B, hidden)``."""
        out, new_state = self.lstm(self.embed(tokens), state)
        return ModelOutput(self.head(out), {}, (new_state[0].detach(), new_state[1].detach()))
