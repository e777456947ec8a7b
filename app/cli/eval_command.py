"""``memscope eval CHECKPOINT --task recall --distances 16,64,256,1024,4096 --out TRACE``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from app.cli import cli
from app.cli.errors import UserError


def parse_ints(text: Optional[str], what: str) -> Optional[list[int]]:
    """``"16,64,256" -> [16, 64, 256]``; anything else is refused with one line."""
    if text is None or text == "":
        return None
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UserError(f"--{what} takes comma-separated integers, e.g. 16,64,256 (got {text!r})") from None
    if not values or any(v < 1 for v in values):
        raise UserError(f"--{what} values must be positive integers (got {text!r})")
    return values


@cli.command("eval")
def eval_command(
    checkpoint: Path = typer.Argument(..., help="Checkpoint folder (model.safetensors + config.json)."),
    task: str = typer.Option("recall", help="Task: recall, mqar, mqar-forget, continual."),
    distances: Optional[str] = typer.Option(None, help="Recall distances, e.g. 16,64,256,1024,4096."),
    pairs: Optional[str] = typer.Option(None, help="MQAR key-value pair counts, e.g. 4,8,16,32."),
    out: Path = typer.Option(..., help="Trace file (.duckdb) to write the evaluation into."),
    name: Optional[str] = typer.Option(None, help="Run name (default: the checkpoint folder's name)."),
    overrides: list[str] = typer.Option([], "--set", help="task.X=value task parameters."),
    batches: int = typer.Option(4, help="Batches per point for accuracy."),
    batch_size: int = typer.Option(32, "--batch-size"),
    trace_batch: int = typer.Option(1, "--trace-batch", help="Sequences per point whose memory operations are traced."),
    seed: int = typer.Option(1234),
    device: Optional[str] = typer.Option(None, help="auto, cpu or cuda."),
) -> None:
    """Evaluate a checkpoint and write accuracy, memory statistics and every memory operation to a trace."""
    import torch  # noqa: F401  (heavy imports inside the command)

    from engine.checkpoint import load_checkpoint
    from engine.device import describe, pick_device
    from engine.tasks import TASKS, make_task
    from engine.training.config import parse_value
    from engine.training.eval_trace import EvalPlan, evaluate_checkpoint
    from tracing.writer import DuckDBRecorder

    if task not in TASKS:
        raise UserError(f"unknown task {task!r}; known: {', '.join(TASKS)}")
    if batches < 1 or batch_size < 1 or trace_batch < 1:
        raise UserError("--batches, --batch-size and --trace-batch must be positive")
    if out.suffix != ".duckdb":
        raise UserError(f"--out must be a .duckdb trace file (got {out})")
    params = {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.startswith("task."):
            raise UserError(f"--set takes task.X=value (got {item!r})")
        params[key[5:]] = parse_value(raw)
    sweep = parse_ints(distances, "distances") if task in ("recall",) else None
    if task in ("mqar", "mqar-forget", "assoc-recall"):
        sweep = parse_ints(pairs, "pairs")
    elif pairs:
        raise UserError("--pairs applies to mqar, mqar-forget and assoc-recall only")
    if distances and task not in ("recall",):
        raise UserError("--distances applies to the recall task only")
    ckpt = load_checkpoint(checkpoint)
    train_params = ckpt.extra.get("train", {}).get("task_params", {}) if ckpt.extra.get("train", {}).get("task") == task else {}
    swept = ("distance", "n_pairs", "max_pairs") if sweep else ()
    base = {k: v for k, v in {**train_params, **params}.items() if k not in swept}
    make_task(task, **base)  # refuses bad parameters before any work
    if getattr(ckpt.config, "vocab_size", None) is not None and make_task(task, **base).vocab_size > ckpt.config.vocab_size:
        raise UserError(f"task {task} needs vocab {make_task(task, **base).vocab_size} but the checkpoint's model has {ckpt.config.vocab_size}")
    dev = pick_device(device)
    plan = EvalPlan(task=task, params=base, sweep=sweep, batches=batches, batch_size=batch_size, trace_batch=trace_batch, seed=seed, series=name or checkpoint.name)
    out.parent.mkdir(parents=True, exist_ok=True)
    with DuckDBRecorder(
        out, name=name or checkpoint.name, family=ckpt.family, model=ckpt.family,
        config={"model": vars(ckpt.config), "eval": vars(plan), "checkpoint": str(checkpoint)}, input=f"{task} {json.dumps(base)}", device=describe(dev),
    ) as recorder:
        summary = evaluate_checkpoint(ckpt, plan, recorder, dev, progress=typer.echo)
    for point in summary["points"]:
        typer.echo(f"x={point['x']}: accuracy {point['accuracy']:.4f}")
    typer.echo(f"trace: {out}")
