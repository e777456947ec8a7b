"""Accuracy of a sequence model on a task: overall, by distance, on re-bound keys, per continual task."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import torch

from engine.device import autocast
from engine.tasks import IGNORE, TaskBatch, make_task


def scored_predictions(model: torch.nn.Module, batch: TaskBatch, device: torch.device, state: Any = None) -> tuple[torch.Tensor, torch.Tensor, Any]:
    """``(correct (n,) bool, mask (B, T) bool, new state)`` on the scored positions of ``batch``."""
    with torch.no_grad(), autocast(device):
        out = model(batch.inputs.to(device), state=state)
    mask = batch.targets != IGNORE
    pred = out.logits.argmax(dim=-1).cpu()
    return (pred[mask] == batch.targets[mask]), mask, out.state


def evaluate(model: torch.nn.Module, task_name: str, params: dict[str, Any], *, batches: int, batch_size: int, seed: int, device: torch.device) -> dict[str, float]:
    """Accuracy on ``batches`` fresh batches (seeded: the same seed gives the same batches).

    Returns ``accuracy`` and, when the task has them, ``accuracy_rebound`` / ``accuracy_kept``
    (forgetting-MQAR) and ``n_scored``.
    """
    task = make_task(task_name, **params)
    generator = torch.Generator().manual_seed(seed)
    was_training = model.training
    model.eval()
    hits: dict[str, list[torch.Tensor]] = defaultdict(list)
    for _ in range(batches):
        batch = task.make_batch(batch_size, generator)
        correct, mask, _ = scored_predictions(model, batch, device)
        hits["accuracy"].append(correct)
        if "rebound" in batch.meta:
            rebound = batch.meta["rebound"][mask]
            hits["accuracy_rebound"].append(correct[rebound])
            hits["accuracy_kept"].append(correct[~rebound])
    model.train(was_training)
    out = {name: torch.cat(parts).float().mean().item() for name, parts in hits.items() if torch.cat(parts).numel()}
    out["n_scored"] = float(torch.cat(hits["accuracy"]).numel())
    return out


def task_phases(task_name: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """The parameter sets trained in turn: one per task for ``continual``, else just ``params``."""
    if task_name != "continual":
        return [dict(params)]
    n_tasks = make_task(task_name, **params).n_tasks
    return [{**params, "task_id": s} for s in range(n_tasks)]
