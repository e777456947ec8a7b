"""What every synthetic task returns, and the errors for bad task input."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

IGNORE = -100
"""Target value where no prediction is scored (``F.cross_entropy``'s ``ignore_index``)."""


class TaskError(ValueError):
    """Bad task input: an unknown task name or a parameter out of range."""


@dataclass
class TaskBatch:
    """One batch of a task.

    - ``inputs (B, T) long``: token ids.
    - ``targets (B, T) long``: the token to predict at each position, :data:`IGNORE` where unscored.
    - ``meta``: analysis tensors, e.g. ``distance (B, T)`` of each query from its fact (``-1`` where
      unscored), ``task_id (B,)``, ``rebound (B, T)`` (forgetting-MQAR).
    - ``vocab_size``: size of the token space the task draws from.
    """

    inputs: torch.Tensor
    targets: torch.Tensor
    vocab_size: int
    meta: dict[str, torch.Tensor] = field(default_factory=dict)

    def to(self, device: torch.device) -> "TaskBatch":
        return TaskBatch(
            self.inputs.to(device), self.targets.to(device), self.vocab_size, {k: v.to(device) for k, v in self.meta.items()}
        )


def randint(low: int, high: int, size: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    """Uniform integers in ``[low, high)`` drawn from ``generator`` (CPU)."""
    return torch.randint(low, high, size, generator=generator)


def distinct(n_choices: int, count: int, batch: int, generator: torch.Generator) -> torch.Tensor:
    """``(batch, count)`` distinct integers in ``[0, n_choices)`` per row (random order)."""
    if count > n_choices:
        raise TaskError(f"cannot draw {count} distinct items from {n_choices}")
    return torch.rand(batch, n_choices, generator=generator).argsort(dim=1)[:, :count]


def require(condition: bool, message: str) -> None:
    """Raise :class:`TaskError` with ``message`` unless ``condition``."""
    if not condition:
        raise TaskError(message)
