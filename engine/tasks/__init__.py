"""Seeded synthetic tasks, registered by name.

``TASKS[name]`` is a parameter dataclass; ``make_task(name, **params)`` builds it (bad names and
parameters raise :class:`TaskError` with one line) and ``task.make_batch(batch_size, generator)``
returns a :class:`TaskBatch`. Same generator seed, same batch.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from engine.tasks.assoc_recall import AssocRecallTask
from engine.tasks.base import IGNORE, TaskBatch, TaskError
from engine.tasks.continual import ContinualTask
from engine.tasks.mqar import MQARTask
from engine.tasks.recall import RecallTask

TASKS: dict[str, type] = {
    "recall": RecallTask,
    "mqar": MQARTask,
    "mqar-forget": MQARTask,
    "continual": ContinualTask,
    "assoc-recall": AssocRecallTask,
}

_DEFAULTS: dict[str, dict[str, Any]] = {"mqar-forget": {"rebind": 4}}


def make_task(name: str, **params: Any) -> Any:
    """The task ``name`` with ``params`` over its defaults."""
    if name not in TASKS:
        raise TaskError(f"unknown task {name!r}; known: {', '.join(TASKS)}")
    cls = TASKS[name]
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(params) - known)
    if unknown:
        raise TaskError(f"{name}: unknown parameter(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return cls(**{**_DEFAULTS.get(name, {}), **params})


def make_batch(name: str, batch_size: int, generator: torch.Generator, **params: Any) -> TaskBatch:
    """One batch of task ``name`` (the ARCHITECTURE.md call form)."""
    return make_task(name, **params).make_batch(batch_size, generator)


__all__ = ["IGNORE", "TASKS", "TaskBatch", "TaskError", "make_batch", "make_task"]
