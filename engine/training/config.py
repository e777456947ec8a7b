"""Training configs: a dataclass, loadable from a JSON/TOML file, with ``key=value`` overrides.

Override keys: a :class:`TrainConfig` field (``steps=2000``), or ``model.<field>``, ``task.<param>``,
``eval.<param>`` for the model config, the task parameters and the evaluation-only task parameters
(``--set model.n_slots=64 --set task.max_distance=512``). Values are parsed as JSON when they can be
(``64``, ``0.5``, ``true``, ``null``) and kept as strings otherwise.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """A config file or override that cannot be applied."""


@dataclass
class TrainConfig:
    """Everything one training run needs (saved into the checkpoint's ``config.json``)."""

    model: str = "memnet"
    task: str = "recall"
    model_params: dict[str, Any] = field(default_factory=dict)
    task_params: dict[str, Any] = field(default_factory=dict)
    eval_params: dict[str, Any] = field(default_factory=dict)
    steps: int = 1000
    batch_size: int = 32
    lr: float = 3e-3
    weight_decay: float = 0.0
    warmup: int = 50
    grad_clip: float = 1.0
    eval_every: int = 200
    eval_batches: int = 4
    seed: int = 0
    device: str = "auto"
    threads: int = 0
    out: str = "runs/checkpoints/run"
    persist_state: bool = False
    time_limit: float = 0.0
    target_accuracy: float = 0.0

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "eval_batches"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be positive (got {getattr(self, name)})")
        if self.lr <= 0:
            raise ConfigError(f"lr must be positive (got {self.lr})")
        if not 0.0 <= self.target_accuracy <= 1.0:
            raise ConfigError(f"target_accuracy must be in [0, 1] (got {self.target_accuracy})")


_SECTIONS = {"model": "model_params", "task": "task_params", "eval": "eval_params"}


def parse_value(text: str) -> Any:
    """``"64" -> 64``, ``"true" -> True``, ``"null" -> None``, ``"abc" -> "abc"``."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def load_file(path: str | Path) -> dict[str, Any]:
    """A config file (``.json`` or ``.toml``) as a dict of :class:`TrainConfig` fields."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} not found")
    try:
        data = tomllib.loads(path.read_text()) if path.suffix == ".toml" else json.loads(path.read_text())
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot parse ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a table of settings")
    return data


def apply_overrides(values: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``key=value`` strings to a dict of :class:`TrainConfig` fields (returns a new dict)."""
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in values.items()}
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    for item in overrides:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"override {item!r} is not key=value")
        section, dot, name = key.partition(".")
        if dot and section in _SECTIONS:
            out.setdefault(_SECTIONS[section], {})[name] = parse_value(raw)
        elif not dot and key in fields:
            out[key] = parse_value(raw)
        else:
            raise ConfigError(f"unknown setting {key!r}; use a training field ({', '.join(sorted(fields))}) or model.X / task.X / eval.X")
    return out


def build_config(base: dict[str, Any] | None = None, file: str | Path | None = None, overrides: list[str] | None = None) -> TrainConfig:
    """``base`` <- ``file`` <- ``overrides``, checked into a :class:`TrainConfig`."""
    values = dict(base or {})
    if file is not None:
        loaded = load_file(file)
        for section in _SECTIONS.values():
            if section in loaded and section in values:
                loaded[section] = {**values[section], **loaded[section]}
        values.update(loaded)
    values = apply_overrides(values, overrides or [])
    unknown = sorted(set(values) - {f.name for f in dataclasses.fields(TrainConfig)})
    if unknown:
        raise ConfigError(f"unknown setting(s) {', '.join(unknown)}")
    try:
        return TrainConfig(**values)
    except TypeError as exc:
        raise ConfigError(str(exc)) from None
