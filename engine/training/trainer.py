"""One trainer for every sequence model: task cross-entropy + the model's weighted aux losses, AdamW
with warm-up and cosine decay, bf16 autocast on CUDA, a rich progress bar, periodic evaluation,
checkpoints, resume and seeds. ``continual`` trains its tasks in turn and evaluates every task after
each one (the forgetting curves, saved in ``metrics.json``)."""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F

from engine.checkpoint import CheckpointError, load_checkpoint, load_optimizer, read_config, save_checkpoint, save_optimizer
from engine.device import autocast, describe, pick_device
from engine.models import count_parameters, model_spec
from engine.tasks import IGNORE, make_task
from engine.training.config import TrainConfig
from engine.training.evaluation import evaluate, task_phases


@dataclass
class TrainResult:
    """Where the checkpoint went and what it reached."""

    checkpoint: Path
    metrics: dict[str, Any]


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up for ``warmup`` steps, then cosine decay to 10% of ``lr`` at ``steps``."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = min(1.0, (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup))
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def task_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over the scored positions: ``logits (B, T, V)``, ``targets (B, T)``."""
    return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=IGNORE)


def _progress(enabled: bool):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"), disable=not enabled,
    )


def train(cfg: TrainConfig, *, resume: str | Path | None = None, progress: bool = True, log: Callable[[str], None] = print) -> TrainResult:
    """Train ``cfg.model`` on ``cfg.task`` and write the checkpoint folder ``cfg.out``."""
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    device = pick_device(cfg.device)
    torch.manual_seed(cfg.seed)
    spec = model_spec(cfg.model)
    phases = task_phases(cfg.task, cfg.task_params)
    vocab = make_task(cfg.task, **phases[0]).vocab_size
    generator = torch.Generator().manual_seed(cfg.seed)
    history: list[dict[str, Any]] = []
    forgetting: list[dict[str, Any]] = []
    start_step = 0
    earlier_seconds = 0.0  # training time of the stages this one resumes
    if resume is not None:
        family = read_config(resume)["family"]
        if family != cfg.model:
            raise CheckpointError(f"cannot resume: checkpoint is a {family}, training a {cfg.model}")
        ckpt = load_checkpoint(resume, overrides=cfg.model_params)  # e.g. a loss weight changed for this stage
        model, model_cfg = ckpt.model, ckpt.config
        history = list(ckpt.metrics.get("history", []))
        forgetting = list(ckpt.metrics.get("forgetting", []))
        earlier_seconds = float(ckpt.metrics.get("total_train_seconds", ckpt.metrics.get("train_seconds", 0.0)))
    else:
        model_cfg = spec.make_config(**{"vocab_size": vocab, **cfg.model_params})
        model = spec.build(model_cfg)
    model.to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    if resume is not None:
        trainer_state = load_optimizer(resume, optimizer)
        start_step = int(trainer_state["step"])
        generator.set_state(torch.tensor(trainer_state["generator"], dtype=torch.uint8))
    out = Path(cfg.out)
    extra = {"train": dataclasses.asdict(cfg)}
    total = cfg.steps * len(phases)
    began = time.time()
    tokens = 0
    state = None
    metrics: dict[str, Any] = {}
    info = ""

    def save(step: int) -> None:
        seconds = time.time() - began
        metrics.update(
            family=cfg.model, step=step, parameters=count_parameters(model), device=describe(device), history=history,
            forgetting=forgetting, train_seconds=seconds, total_train_seconds=earlier_seconds + seconds, tokens_per_second=tokens / max(seconds, 1e-9),
        )
        save_checkpoint(out, model, family=cfg.model, config=model_cfg, metrics=metrics, extra=extra)
        save_optimizer(out, optimizer, {"step": step, "generator": generator.get_state().tolist()})

    def run_eval(step: int, phase: int) -> dict[str, Any]:
        row: dict[str, Any] = {"step": step}
        params = {**phases[phase], **cfg.eval_params}
        row.update(evaluate(model, cfg.task, params, batches=cfg.eval_batches, batch_size=cfg.batch_size, seed=cfg.seed + 1, device=device))
        history.append(row)
        return row

    with _progress(progress) as bar:
        job = bar.add_task(f"train {cfg.model} on {cfg.task}", total=total, completed=start_step, info="")
        step = start_step
        while step < total:
            phase = step // cfg.steps
            task = make_task(cfg.task, **phases[phase])
            for param_group in optimizer.param_groups:
                param_group["lr"] = lr_at(step % cfg.steps if len(phases) > 1 else step, cfg)
            batch = task.make_batch(cfg.batch_size, generator).to(device)
            with autocast(device):
                output = model(batch.inputs, state=state if cfg.persist_state else None)
            loss = task_loss(output.logits, batch.targets)
            aux = sum(output.aux_losses.values()) if output.aux_losses else torch.zeros((), device=device)
            optimizer.zero_grad(set_to_none=True)
            (loss + aux).backward()
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            if cfg.persist_state and output.state is not None:
                state = output.state.detach() if hasattr(output.state, "detach") else output.state
            tokens += batch.inputs.numel()
            step += 1
            if step % 10 == 0 or step == total:  # one host sync every 10 steps for the progress line
                info = f"loss {loss.item():.3f} aux {float(aux.detach()):.4f}"
            if step % cfg.eval_every == 0 or step == total or (len(phases) > 1 and step % cfg.steps == 0):
                row = run_eval(step, phase)
                info += f" acc {row['accuracy']:.3f}"
                log(f"step {step}: loss {loss.item():.4f} eval accuracy {row['accuracy']:.4f}")
                save(step)
            if len(phases) > 1 and step % cfg.steps == 0 and hasattr(model, "end_task"):
                model.end_task(lambda: task.make_batch(cfg.batch_size, generator))  # e.g. CLS: EWC Fisher, SI, replay archive
            if len(phases) > 1 and step % cfg.steps == 0:
                accs = {}
                for j in range(len(phases)):
                    params = {**phases[j], **cfg.eval_params}
                    accs[j] = evaluate(model, cfg.task, params, batches=cfg.eval_batches, batch_size=cfg.batch_size, seed=cfg.seed + 2, device=device)["accuracy"]
                forgetting.append({"after_task": phase, "accuracy": accs})
                log(f"after task {phase}: " + " ".join(f"task{j}={a:.3f}" for j, a in accs.items()))
            bar.update(job, completed=step, info=info)
            if cfg.time_limit and time.time() - began > cfg.time_limit:
                log(f"time limit {cfg.time_limit:.0f}s reached at step {step}")
                break
            if cfg.target_accuracy and history and history[-1]["step"] == step and history[-1]["accuracy"] >= cfg.target_accuracy:
                log(f"target accuracy {cfg.target_accuracy} reached at step {step}")
                break
    metrics["final"] = run_eval(step, min(step, total - 1) // cfg.steps) if not history or history[-1]["step"] != step else history[-1]
    save(step)
    return TrainResult(out, metrics)
