"""Checkpoints: a folder with ``model.safetensors``, ``config.json`` (``family``, the model's config
dataclass, the training config) and ``metrics.json``; optionally ``optimizer.safetensors`` +
``trainer.json`` for resuming. Weights are read with ``safetensors`` only (never pickle); a file
that is not safetensors, or weights that do not fit the config, are refused with one line."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from engine.models import ModelConfigError, ModelSpec, model_spec

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
METRICS = "metrics.json"
OPTIMIZER = "optimizer.safetensors"
TRAINER = "trainer.json"
FORMAT = "memscope-checkpoint"


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded: missing, not safetensors, or not matching its config."""


@dataclass
class Checkpoint:
    """A loaded checkpoint."""

    path: Path
    family: str
    spec: ModelSpec
    config: Any
    model: torch.nn.Module
    metrics: dict[str, Any]
    extra: dict[str, Any]


def save_checkpoint(
    folder: str | Path,
    model: torch.nn.Module,
    *,
    family: str,
    config: Any,
    metrics: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write the checkpoint folder (created if needed) and return its path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(state, str(folder / WEIGHTS), metadata={"format": FORMAT, "family": family})
    payload = {"format": FORMAT, "family": family, "model": dataclasses.asdict(config), **(extra or {})}
    (folder / CONFIG).write_text(json.dumps(payload, indent=2, sort_keys=True))
    (folder / METRICS).write_text(json.dumps(metrics or {}, indent=2, sort_keys=True))
    return folder


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of a safetensors file; anything else is refused with :class:`CheckpointError`."""
    if not path.is_file():
        raise CheckpointError(f"{path} is missing")
    with path.open("rb") as fh:
        head = fh.read(8)
    if len(head) < 8 or int.from_bytes(head, "little") > path.stat().st_size:
        raise CheckpointError(f"{path} is not a safetensors file (only safetensors weights are accepted)")
    try:
        return load_file(str(path))
    except (SafetensorError, ValueError, OSError) as exc:
        raise CheckpointError(f"{path} is not a valid safetensors file ({' '.join(str(exc).split())})") from None


def read_config(folder: str | Path) -> dict[str, Any]:
    """The parsed ``config.json`` of a checkpoint folder."""
    folder = Path(folder)
    if folder.is_file():
        raise CheckpointError(f"{folder} is a file; a checkpoint is a folder holding {WEIGHTS}, {CONFIG} and {METRICS}")
    path = folder / CONFIG
    if not path.is_file():
        raise CheckpointError(f"{folder} is not a checkpoint folder (no {CONFIG})")
    try:
        payload = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path} is not valid JSON ({exc.msg})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT or "family" not in payload or "model" not in payload:
        raise CheckpointError(f"{path} is not a memscope checkpoint config")
    return payload


def load_checkpoint(folder: str | Path, map_location: str | torch.device = "cpu", overrides: dict[str, Any] | None = None) -> Checkpoint:
    """Rebuild the model from ``config.json`` and load ``model.safetensors`` into it (strictly).

    ``overrides`` replace fields of the saved model config (a loss weight changed for a later
    curriculum stage); one that changes a weight's shape is refused like any mismatch.
    """
    folder = Path(folder)
    payload = read_config(folder)
    family = payload["family"]
    try:
        spec = model_spec(family)
        config = spec.make_config(**{**payload["model"], **(overrides or {})})
    except (ModelConfigError, ValueError) as exc:
        raise CheckpointError(f"checkpoint config does not match model {family!r}: {exc}") from None
    model = spec.build(config)
    weights = read_safetensors(folder / WEIGHTS)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(weights))
    unexpected = sorted(set(weights) - set(expected))
    if missing or unexpected:
        detail = f"missing {missing[:3]}" if missing else f"unexpected {unexpected[:3]}"
        raise CheckpointError(f"checkpoint weights do not match its {family} config: {detail}")
    for name, tensor in weights.items():
        if tensor.shape != expected[name].shape:
            raise CheckpointError(
                f"checkpoint weights do not match its {family} config: {name} has shape {tuple(tensor.shape)}, config implies {tuple(expected[name].shape)}"
            )
    model.load_state_dict(weights)
    model.to(map_location)
    metrics_path = folder / METRICS
    metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
    extra = {k: v for k, v in payload.items() if k not in ("format", "family", "model")}
    return Checkpoint(folder, family, spec, config, model, metrics, extra)


def save_optimizer(folder: str | Path, optimizer: torch.optim.Optimizer, trainer_state: dict[str, Any]) -> None:
    """Flatten the optimizer's tensors into ``optimizer.safetensors``; scalars go to ``trainer.json``."""
    folder = Path(folder)
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, Any] = {}
    for index, slots in optimizer.state_dict()["state"].items():
        for key, value in slots.items():
            if torch.is_tensor(value):
                tensors[f"{index}.{key}"] = value.detach().contiguous().cpu()
            else:
                scalars[f"{index}.{key}"] = value
    save_file(tensors, str(folder / OPTIMIZER))
    (folder / TRAINER).write_text(json.dumps({"optimizer_scalars": scalars, **trainer_state}, indent=2, sort_keys=True))


def load_optimizer(folder: str | Path, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """Restore what :func:`save_optimizer` wrote; returns the trainer state (step, rng, ...)."""
    folder = Path(folder)
    if not (folder / TRAINER).is_file():
        raise CheckpointError(f"{folder} holds no trainer state to resume from ({TRAINER} missing)")
    trainer = json.loads((folder / TRAINER).read_text())
    tensors = read_safetensors(folder / OPTIMIZER)
    state: dict[int, dict[str, Any]] = {}
    for name, value in list(tensors.items()) + list(trainer.pop("optimizer_scalars").items()):
        index, _, key = name.partition(".")
        state.setdefault(int(index), {})[key] = value
    current = optimizer.state_dict()
    current["state"] = state
    optimizer.load_state_dict(current)
    return trainer
