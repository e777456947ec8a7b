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

SAMPLES: dict[str, dict] = {"cls-hebbian": {"rule": "hebbian"}, "cls-delta": {"rule": "delta"}}
"""The two shipped checkpoints differ only in the update rule. Neither has a write gate: with the
gate, the delta model learns slowly or not at all in this budget (docs/results/cls.md)."""
SAMPLE_MODEL = {
    "d_model": 128, "n_heads": 2, "n_layers": 2, "d_ff": 256, "attn_window": 2, "pos_embedding": False,
    "chunk_size": 256, "max_len": 512, "full_precision": True, "svd_every": 16, "eta": 1.0, "use_gate": False,
}
SAMPLE_TASK = {"n_pairs": 8, "max_pairs": 64, "n_keys": 128, "n_values": 32, "n_queries": 8}
SAMPLE_SWEEP = [8, 16, 32, 50, 64]


@train_app.command("cls-samples")
def cls_samples(
    out: Path = typer.Option(Path("sample_traces"), help="Folder receiving models/cls-*/ and cls/cls.duckdb."),
    steps: int = typer.Option(14000, help="Training steps per checkpoint (the shipped ones: 14,851 Hebbian, 14,235 delta)."),
    time_limit: float = typer.Option(480.0, "--time-limit", help="Seconds of training per checkpoint (at most)."),
    device: Optional[str] = typer.Option(None, help="auto (default), cpu or cuda; the shipped ones were trained on an H200."),
    skip_training: bool = typer.Option(False, "--skip-training", help="Only re-write the traces from the checkpoints in OUT/models."),
    seed: int = typer.Option(0),
    quiet: bool = typer.Option(False, help="No progress bar."),
) -> None:
    """Train the two shipped CLS checkpoints (Hebbian vs delta rule) on assoc-recall and write their evaluation traces."""
    from engine.checkpoint import load_checkpoint
    from engine.device import describe, pick_device
    from engine.training.config import build_config
    from engine.training.eval_trace import EvalPlan, evaluate_checkpoint
    from engine.training.trainer import train
    from tracing.writer import DuckDBRecorder

    if steps < 1 or time_limit <= 0:
        raise UserError("--steps and --time-limit must be positive")
    trace = out / "cls" / "cls.duckdb"
    if trace.exists():
        raise UserError(f"{trace} exists; remove it first (the samples are regenerated whole)")
    dev = pick_device(device)
    for name, variant in SAMPLES.items():
        folder = out / "models" / name
        if not skip_training:
            overrides = [f"model.{k}={_json(v)}" for k, v in {**SAMPLE_MODEL, **variant}.items()]
            overrides += [f"task.{k}={_json(v)}" for k, v in SAMPLE_TASK.items()]
            overrides += [f"steps={steps}", f"seed={seed}", f"device={dev.type}", f"out={folder}", "batch_size=128", "lr=0.002"]
            overrides += ["eval_every=1000", f"time_limit={time_limit}", "eval.n_queries=1"]
            cfg = build_config({"model": "cls", "task": "assoc-recall"}, overrides=overrides)
            result = train(cfg, progress=not quiet, log=(lambda _: None) if quiet else typer.echo)
            typer.echo(f"{folder}: accuracy {result.metrics['final']['accuracy']:.4f}")
        ckpt = load_checkpoint(folder)
        params = {"n_keys": SAMPLE_TASK["n_keys"], "n_values": SAMPLE_TASK["n_values"]}
        plan = EvalPlan(task="assoc-recall", params=params, sweep=SAMPLE_SWEEP, batches=4, batch_size=64, trace_batch=1, seed=1234, series=name)
        trace.parent.mkdir(parents=True, exist_ok=True)
        with DuckDBRecorder(
            trace, name=name, family="cls", model="cls", config={"model": vars(ckpt.config), "checkpoint": str(folder)},
            input=f"assoc-recall R = {', '.join(map(str, SAMPLE_SWEEP))}", device=describe(dev),
        ) as recorder:
            summary = evaluate_checkpoint(ckpt, plan, recorder, dev, progress=(lambda _: None) if quiet else typer.echo)
        for point in summary["points"]:
            typer.echo(f"  {name} R={point['x']:.0f}: accuracy {point['accuracy']:.4f}")
    typer.echo(f"trace: {trace}")


def _json(value: object) -> str:
    import json

    return json.dumps(value)
