"""``memscope trace``: run a causal LM with moment memory on a prompt and record everything to a trace.

    memscope trace --prompt "In Barloford lived ..." --max-new-tokens 64 --out runs/moment.duckdb
    memscope trace --model gpt2 --prompt-file story.txt --bank runs/bank.safetensors --out runs/moment.duckdb

Without ``--model`` the embedded tiny LM (``sample_traces/models/tiny-lm``) is used. ``--bank`` loads
a saved memory bank when the file exists and saves the bank back after the run (atomically).
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Optional

import typer

from app.cli import cli
from app.cli.errors import UserError


@cli.command("trace")
def trace(
    out: Path = typer.Option(..., help="Trace file (DuckDB) to record into; created when missing."),
    prompt: Optional[str] = typer.Option(None, help="Prompt text."),
    prompt_file: Optional[Path] = typer.Option(None, help="Read the prompt from this file (any bytes; invalid UTF-8 is replaced)."),
    model: Optional[str] = typer.Option(None, help="Hugging Face id or local folder (default: the embedded tiny LM)."),
    max_new_tokens: int = typer.Option(64, min=0, help="Tokens to generate after the prompt."),
    bank: Optional[Path] = typer.Option(None, help="Memory bank file: loaded when it exists, saved after the run."),
    device: Optional[str] = typer.Option(None, help="cpu, cuda, ... (default: CUDA when present)."),
    dtype: Optional[str] = typer.Option(None, help="float32, bfloat16 or float16 (default: bf16 on CUDA, fp32 on CPU)."),
    temperature: float = typer.Option(0.8, min=0.0, help="Sampling temperature (0 = greedy)."),
    seed: int = typer.Option(0, help="Sampling seed."),
    threshold_mode: str = typer.Option("adaptive", help="Moment detection thresholds: adaptive or fixed."),
    reinject_context: bool = typer.Option(False, help="Also re-introduce a resonating moment's stored context text."),
    compile_memory: bool = typer.Option(False, "--compile", help="torch.compile the memory's per-token math (worth it on a GPU)."),
    trust_remote_code: bool = typer.Option(False, help="Allow the model's own code from the hub (off by default)."),
    name: Optional[str] = typer.Option(None, help="Run name (default: 'moment <model>')."),
    quiet: bool = typer.Option(False, help="No progress bar and no text output."),
) -> None:
    """Generate with attention-gated moment memory and record steps, moments, resonances, merges and prunes."""
    from rich.progress import Progress

    from engine.lm.loading import load_lm
    from engine.moment.config import MomentConfig
    from engine.moment.prompt import PromptWarning, clean_prompt
    from engine.moment.session import MomentSession
    from tracing.writer import DuckDBRecorder

    if (prompt is None) == (prompt_file is None):
        raise UserError("give exactly one of --prompt and --prompt-file")
    if prompt_file is not None:
        if not prompt_file.is_file():
            raise UserError(f"prompt file {prompt_file} does not exist")
        text: str | bytes = prompt_file.read_bytes()
    else:
        text = prompt
    if out.exists() and out.is_dir():
        raise UserError(f"--out {out} is a folder; give a trace file path such as {out / 'moment.duckdb'}")
    config = MomentConfig(threshold_mode=threshold_mode, compile=compile_memory)
    lm = load_lm(model, device=device, dtype=dtype, trust_remote_code=trust_remote_code)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PromptWarning)
        text = clean_prompt(text)  # refuses an empty prompt before a trace file is created
        _warn(caught)
        out.parent.mkdir(parents=True, exist_ok=True)
        session = MomentSession(lm, config, temperature=temperature, seed=seed, reinject_context=reinject_context)
        if bank is not None and bank.exists():
            session.load(bank)  # a bank from another vocabulary is refused before a trace file is created
        with DuckDBRecorder(out, name=name or f"moment {Path(lm.name).name}", family="moment", model=lm.name,
                            config=config.to_dict(), input=text, device=str(lm.device)) as recorder:
            session.memory.recorder = recorder
            generated, stored, hits = [], 0, 0
            with Progress(transient=True, disable=quiet) as progress:
                task = progress.add_task("generating", total=max_new_tokens)
                for event in session.generate(text, max_new_tokens):
                    stored += int(event.stored)
                    hits += int(event.boost > 0)
                    if not event.is_prompt:
                        generated.append(event.text)
                        progress.advance(task)
            session.close()
        _warn(caught)
    if bank is not None:
        session.save(bank)
    if not quiet:
        typer.echo("".join(generated))
        typer.echo(f"trace: {out}  run {recorder.run_id}  moments stored {stored}  resonances {hits}  bank size {session.memory.size}")


def _warn(caught: list) -> None:
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    caught.clear()
