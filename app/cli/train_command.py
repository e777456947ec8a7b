"""``memscope train <model>``: train a sequence model on a synthetic task and write a checkpoint.

The ``train`` group is :data:`train_app`; other modules add their models with
:func:`register_model_command` (e.g. ``register_model_command("cls", "...")``), which gives every
model the same options.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from app.cli import cli
from app.cli.errors import UserError

train_app = typer.Typer(help="Train a model on a synthetic task (checkpoints: safetensors + config.json + metrics.json).", no_args_is_help=True)
cli.add_typer(train_app, name="train")


def run_training(
    model: str,
    *,
    task: str,
    steps: Optional[int],
    batch_size: Optional[int],
    lr: Optional[float],
    seed: Optional[int],
    device: Optional[str],
    out: Optional[Path],
    config: Optional[Path],
    overrides: list[str],
    resume: Optional[Path],
    eval_every: Optional[int],
    time_limit: Optional[float],
    quiet: bool,
) -> None:
    """Build the :class:`TrainConfig` (defaults <- file <- flags <- ``--set``) and train."""
    from engine.training.config import build_config
    from engine.training.trainer import train

    base = {"model": model, "task": task, "out": str(Path("runs") / "checkpoints" / f"{model}-{task}")}
    flags = {"steps": steps, "batch_size": batch_size, "lr": lr, "seed": seed, "device": device, "eval_every": eval_every, "time_limit": time_limit}
    flag_overrides = [f"{k}={v}" for k, v in flags.items() if v is not None]
    if out is not None:
        flag_overrides.append(f"out={str(out)!s}")
    cfg = build_config(base, file=config, overrides=flag_overrides + list(overrides))
    if cfg.model != model:
        raise UserError(f"config file trains {cfg.model!r} but the command is 'train {model}'")
    result = train(cfg, resume=resume, progress=not quiet, log=(lambda _: None) if quiet else typer.echo)
    final = result.metrics.get("final", {})
    typer.echo(f"checkpoint: {result.checkpoint}  accuracy {final.get('accuracy', float('nan')):.4f}")


def register_model_command(model: str, help_text: str) -> None:
    """Add ``memscope train <model>`` with the shared options."""

    @train_app.command(model, help=help_text)
    def _command(
        task: str = typer.Option("recall", help="Task: recall, mqar, mqar-forget, continual."),
        steps: Optional[int] = typer.Option(None, help="Optimizer steps (per task for continual)."),
        batch_size: Optional[int] = typer.Option(None, "--batch-size"),
        lr: Optional[float] = typer.Option(None),
        seed: Optional[int] = typer.Option(None),
        device: Optional[str] = typer.Option(None, help="auto (CUDA+bf16 when present), cpu or cuda."),
        out: Optional[Path] = typer.Option(None, help="Checkpoint folder."),
        config: Optional[Path] = typer.Option(None, help="JSON or TOML file of training settings."),
        overrides: list[str] = typer.Option([], "--set", help="key=value override: steps=500, model.n_slots=64, task.max_distance=512, eval.distance=1024."),
        resume: Optional[Path] = typer.Option(None, help="Checkpoint folder to resume from."),
        eval_every: Optional[int] = typer.Option(None, "--eval-every"),
        time_limit: Optional[float] = typer.Option(None, "--time-limit", help="Stop after this many seconds."),
        quiet: bool = typer.Option(False, help="No progress bar."),
    ) -> None:
        run_training(
            model, task=task, steps=steps, batch_size=batch_size, lr=lr, seed=seed, device=device, out=out, config=config,
            overrides=overrides, resume=resume, eval_every=eval_every, time_limit=time_limit, quiet=quiet,
        )


register_model_command("memnet", "MemNet: Transformer controller + multi-head slot memory (seed 002).")
register_model_command("transformer", "Causal Transformer without memory, full context.")
register_model_command("transformer-window", "Causal Transformer without memory, sliding window (model.window).")
register_model_command("lstm", "LSTM baseline.")
