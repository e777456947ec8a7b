"""Evaluate a checkpoint into a trace: accuracy per sweep point (distance, pairs or continual task),
every memory operation of a few traced sequences, memory statistics and forgetting curves, all as
``metrics`` rows ``(name, value, x, series)`` plus ``steps``/``memory_events``/``cell_states``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from engine.checkpoint import Checkpoint
from engine.device import autocast
from engine.tasks import IGNORE, TaskBatch, make_task
from engine.training.evaluation import evaluate, task_phases
from engine.training.tee import TeeRecorder
from tracing.recorder import MemoryRecorder, Recorder

SWEEP_PARAM = {"recall": "distance", "mqar": "n_pairs", "mqar-forget": "n_pairs", "continual": "task_id", "assoc-recall": "n_pairs"}


@dataclass
class EvalPlan:
    """What to evaluate: ``task`` with ``params``, one point per value of ``sweep`` (``None``: once)."""

    task: str
    params: dict[str, Any] = field(default_factory=dict)
    sweep: list[int] | None = None
    batches: int = 4
    batch_size: int = 32
    trace_batch: int = 1
    seed: int = 1234
    series: str = "model"


def sweep_points(plan: EvalPlan) -> list[tuple[float | None, dict[str, Any]]]:
    """``(x, params)`` per evaluation point; continual evaluates every task when no sweep is given."""
    name = SWEEP_PARAM.get(plan.task)
    if plan.sweep:
        if name is None:
            raise ValueError(f"task {plan.task!r} takes no sweep")
        return [(float(v), {**plan.params, name: int(v)}) for v in plan.sweep]
    if plan.task == "continual":
        return [(float(p["task_id"]), p) for p in task_phases(plan.task, plan.params)]
    return [(None, dict(plan.params))]


def token_names(batch: TaskBatch) -> list[str]:
    """Readable token labels for the timeline (``t<id>``)."""
    return [f"t{int(t)}" for t in batch.inputs[0].tolist()]


def record_steps(recorder: Recorder, batch: TaskBatch, logits: torch.Tensor, step_offset: int) -> None:
    """One ``steps`` row per traced token: id, next-token entropy, surprisal of the target, top-5."""
    probs = torch.softmax(logits.float(), dim=-1)
    b, t, _ = probs.shape
    entropy = -(probs * torch.log(probs + 1e-12)).sum(-1)
    target = batch.targets.to(probs.device).clamp_min(0)
    surprisal = -torch.log(probs.gather(-1, target.unsqueeze(-1)).squeeze(-1) + 1e-12)
    surprisal = torch.where(batch.targets.to(probs.device) == IGNORE, torch.full_like(surprisal, float("nan")), surprisal)
    top_p, top_i = probs.topk(min(5, probs.shape[-1]), dim=-1)
    steps = (torch.arange(t) + step_offset).repeat(b)
    rows = torch.arange(b).repeat_interleave(t)
    recorder.steps(
        step=steps, batch=rows, token_id=batch.inputs.reshape(-1), token_text=[f"t{int(x)}" for x in batch.inputs.reshape(-1).tolist()],
        surprisal=surprisal.reshape(-1), entropy=entropy.reshape(-1), topk_ids=top_i.reshape(b * t, -1), topk_probs=top_p.reshape(b * t, -1),
    )


def evaluate_checkpoint(ckpt: Checkpoint, plan: EvalPlan, recorder: Recorder, device: torch.device, progress: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """Run ``plan`` on ``ckpt.model`` and record everything through ``recorder``; returns a summary."""
    from engine.memnet.analysis import memory_metrics

    model = ckpt.model.to(device).eval()
    summary: dict[str, Any] = {"points": []}
    step_offset = 0
    for x, params in sweep_points(plan):
        progress(f"evaluating {plan.task} {params}")
        result = evaluate(model, plan.task, params, batches=plan.batches, batch_size=plan.batch_size, seed=plan.seed, device=device)
        for name, value in result.items():
            if name.startswith("accuracy"):
                recorder.metric(name, value, x=x, series=plan.series)
        point = {"x": x, **result}
        # one traced episode of trace_batch sequences (fresh memory)
        task = make_task(plan.task, **params)
        batch = task.make_batch(plan.trace_batch, torch.Generator().manual_seed(plan.seed + 7))
        analysis = MemoryRecorder()
        tee = TeeRecorder(recorder, analysis)
        with torch.no_grad(), autocast(device):
            out = model(batch.inputs.to(device), recorder=tee, step_offset=step_offset)
        record_steps(recorder, batch, out.logits, step_offset)
        events = analysis.tables().get("memory_events")
        if events is not None and events.num_rows and ckpt.family == "memnet":
            cfg = ckpt.config
            stats = memory_metrics(
                events.to_pandas(), n_tokens=batch.inputs.shape[1] * plan.trace_batch, n_banks=cfg.n_heads,
                n_slots=cfg.n_slots, last_step=step_offset + batch.inputs.shape[1] - 1,
            )
            for name, value in stats.items():
                recorder.metric(name, value, x=x, series=plan.series)
            point.update(stats)
        summary["points"].append(point)
        step_offset += batch.inputs.shape[1]
    for row in ckpt.metrics.get("forgetting", []):
        for task_id, acc in row["accuracy"].items():
            recorder.metric("forgetting_accuracy", acc, x=float(row["after_task"]), series=f"{plan.series}:task{task_id}")
    summary["forgetting"] = ckpt.metrics.get("forgetting", [])
    return summary
