"""``memscope train cls`` (the shared training options) and ``memscope train cls-samples``.

``memscope train cls --task assoc-recall --set model.rule=delta --set task.n_pairs=50`` trains the
fast-weight Transformer through the shared trainer; every :class:`engine.cls.config.CLSConfig`
field is a ``--set model.X=...`` override (rule, eta, context_lambda, use_gate, use_context,
attn_window, knn_layers, graph_layers, replay_weight, ewc_strength, si_strength, ...).

``memscope train cls-samples`` regenerates the shipped CLS samples: two small checkpoints (Hebbian
and delta rule) under ``sample_traces/models/cls-*`` and their evaluation traces in
``sample_traces/cls/cls.duckdb``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from app.cli.errors import UserError
from app.cli.train_command import register_model_command, train_app

register_model_command(
    "cls",
    "Transformer + fast-weight episodic memory (seed 001): Hebbian/delta/hyper fast weights, write gate, "
    "context drift, kNN and graph memories, replay + EWC/SI. Tasks: assoc-recall, recall, mqar, continual.",
)

SAMPLE_RULES = ("hebbian", "delta")
SAMPLE_MODEL = {"d_model": 64, "n_heads": 2, "n_layers": 2, "d_ff": 128, "attn_window": 2, "pos_embedding": False, "chunk_size": 32, "svd_every": 8}
SAMPLE_TASK = {"n_pairs": 4, "max_pairs": 16, "n_keys": 32, "n_values": 16, "n_queries": 4}


@train_app.command("cls-samples")
def cls_samples(
    out: Path = typer.Option(Path("sample_traces"), help="Folder receiving models/cls-<rule>/ and cls/cls.duckdb."),
    steps: int = typer.Option(1500, help="Training steps per checkpoint."),
    device: Optional[str] = typer.Option("cpu", help="auto, cpu or cuda."),
    seed: int = typer.Option(0),
    quiet: bool = typer.Option(False, help="No progress bar."),
) -> None:
    """Train the two shipped CLS checkpoints (Hebbian vs delta rule) and write their evaluation traces."""
    from engine.checkpoint import load_checkpoint
    from engine.device import describe, pick_device
    from engine.training.config import build_config
    from engine.training.eval_trace import EvalPlan, evaluate_checkpoint
    from engine.training.trainer import train
    from tracing.writer import DuckDBRecorder

    if steps < 1:
        raise UserError("--steps must be positive")
    trace = out / "cls" / "cls.duckdb"
    if trace.exists():
        raise UserError(f"{trace} exists; remove it first (the samples are regenerated whole)")
    trace.parent.mkdir(parents=True, exist_ok=True)
    dev = pick_device(device)
    for rule in SAMPLE_RULES:
        folder = out / "models" / f"cls-{rule}"
        overrides = [f"model.{k}={_json(v)}" for k, v in {**SAMPLE_MODEL, "rule": rule}.items()]
        overrides += [f"task.{k}={_json(v)}" for k, v in SAMPLE_TASK.items()]
        overrides += [f"steps={steps}", f"seed={seed}", f"device={dev.type}", f"out={folder}", "batch_size=32", "lr=0.005", "eval_every=500", "threads=1", "eval.n_queries=1"]
        cfg = build_config({"model": "cls", "task": "assoc-recall"}, overrides=overrides)
        result = train(cfg, progress=not quiet, log=(lambda _: None) if quiet else typer.echo)
        typer.echo(f"{folder}: accuracy {result.metrics['final']['accuracy']:.4f}")
        ckpt = load_checkpoint(folder)
        plan = EvalPlan(task="assoc-recall", params={"n_keys": 32, "n_values": 16}, sweep=[4, 8, 16, 24, 32], batches=4, batch_size=32, trace_batch=2, seed=1234, series=f"cls-{rule}")
        with DuckDBRecorder(
            trace, name=f"cls-{rule}", family="cls", model="cls", config={"model": vars(ckpt.config), "checkpoint": str(folder)},
            input="assoc-recall R = 4, 8, 16, 24, 32 (trained on 4..16)", device=describe(dev),
        ) as recorder:
            summary = evaluate_checkpoint(ckpt, plan, recorder, dev, progress=(lambda _: None) if quiet else typer.echo)
        for point in summary["points"]:
            typer.echo(f"  cls-{rule} R={point['x']:.0f}: accuracy {point['accuracy']:.4f}")
    typer.echo(f"trace: {trace}")


def _json(value: object) -> str:
    import json

    return json.dumps(value)
