"""The sequence-model registry shared by MemNet, its baselines and CLS.

Every model is an ``nn.Module`` built from one config dataclass (which includes ``vocab_size``)::

    model = MODELS["memnet"].build(MODELS["memnet"].make_config(vocab_size=64, n_slots=32))
    out = model(tokens, recorder=rec, state=None, step_offset=0)   # -> ModelOutput

``forward(tokens (B, T) long, *, recorder=NULL_RECORDER, state=None, step_offset=0)`` returns
:class:`ModelOutput`: ``logits (B, T, V)``, ``aux_losses`` (name -> scalar tensor, already multiplied
by its configured weight; the trainer adds them to the task loss) and ``state`` (memory carried to
the next call when the caller passes it back; ``None`` for models without memory).

Specs import their modules lazily so that ``memscope --help`` stays fast. To add a model, add one
line to :data:`MODELS` naming its config class and its module class as ``"module:Name"``.
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass
class ModelOutput:
    """What every sequence model returns."""

    logits: torch.Tensor
    aux_losses: dict[str, torch.Tensor] = field(default_factory=dict)
    state: Any = None


class UnknownModelError(ValueError):
    """A model name that is not in :data:`MODELS`."""


class ModelConfigError(ValueError):
    """A config that does not fit its model (unknown field, bad value)."""


def _resolve(path: str) -> Any:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class ModelSpec:
    """A registered model: its name (the checkpoint ``family``), config class and module class."""

    name: str
    config_path: str
    module_path: str
    description: str = ""

    @property
    def config_cls(self) -> type:
        return _resolve(self.config_path)

    def make_config(self, **values: Any) -> Any:
        """The config dataclass from keyword values; unknown keys are refused with one line."""
        cls = self.config_cls
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ModelConfigError(f"{self.name}: unknown config field(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**values)

    def build(self, config: Any) -> torch.nn.Module:
        """The model module for ``config`` (an instance of :attr:`config_cls`)."""
        if not isinstance(config, self.config_cls):
            raise ModelConfigError(f"{self.name}: expected a {self.config_cls.__name__}, got {type(config).__name__}")
        return _resolve(self.module_path)(config)


MODELS: dict[str, ModelSpec] = {
    "memnet": ModelSpec("memnet", "engine.memnet.config:MemNetConfig", "engine.memnet.model:MemNet", "slot-memory MemNet (seed 002)"),
    "transformer": ModelSpec("transformer", "engine.baselines.transformer:TransformerConfig", "engine.baselines.transformer:TransformerLM", "causal Transformer, full context"),
    "transformer-window": ModelSpec("transformer-window", "engine.baselines.transformer:WindowTransformerConfig", "engine.baselines.transformer:TransformerLM", "causal Transformer, sliding window W"),
    "lstm": ModelSpec("lstm", "engine.baselines.lstm:LSTMConfig", "engine.baselines.lstm:LSTMLM", "LSTM"),
    "cls": ModelSpec("cls", "engine.cls.config:CLSConfig", "engine.cls.model:CLSTransformer", "Transformer + fast-weight episodic memory (seed 001)"),
}


def model_spec(name: str) -> ModelSpec:
    """The spec of ``name``, or :class:`UnknownModelError` listing the known names."""
    try:
        return MODELS[name]
    except KeyError:
        raise UnknownModelError(f"unknown model {name!r}; known: {', '.join(sorted(MODELS))}") from None


def count_parameters(model: torch.nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
