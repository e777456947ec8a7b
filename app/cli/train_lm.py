"""``memscope train lm``: build the offline corpus and train the embedded tiny LM (tokenizer + GPT-2).

    memscope train lm --out sample_traces/models/tiny-lm --device cuda --max-minutes 6.4 --batch-size 128
    memscope train lm --out runs/tiny-lm --device cpu --max-steps 20 --n-layer 1 --n-embd 32   # a quick CPU run

The corpus (engine.lm.corpus) is written to ``--corpus-dir`` once and reused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from app.cli.errors import UserError
from app.cli.train_command import train_app


@train_app.command("lm")
def train_lm(
    out: Path = typer.Option(Path("runs") / "checkpoints" / "tiny-lm", help="Folder for the model and tokenizer (save_pretrained)."),
    corpus_dir: Path = typer.Option(Path("runs") / "lm-corpus", help="Corpus folder (built when it holds no train.txt)."),
    max_natural_chars: int = typer.Option(12_000_000, min=10_000, help="Natural text to collect when building the corpus."),
    entity_docs: int = typer.Option(3000, min=1, help="Generated entity documents in the training split."),
    device: Optional[str] = typer.Option(None, help="cpu or cuda (default: CUDA when present)."),
    max_steps: int = typer.Option(20_000, min=1),
    max_minutes: float = typer.Option(6.5, min=0.01, help="Stop after this much wall time."),
    batch_size: int = typer.Option(64, min=1),
    lr: float = typer.Option(2e-3),
    vocab_size: int = typer.Option(8192, min=300),
    n_positions: int = typer.Option(256, min=16),
    n_embd: int = typer.Option(256, min=8),
    n_layer: int = typer.Option(6, min=1),
    n_head: int = typer.Option(8, min=1),
    seed: int = typer.Option(0),
    quiet: bool = typer.Option(False, help="No progress bar."),
) -> None:
    """Train the tiny byte-level-BPE GPT-2 on text available offline and save it with save_pretrained."""
    import torch
    from rich.progress import Progress

    from engine.lm.corpus import build_corpus
    from engine.lm.loading import choose_device
    from engine.lm.train_lm import TinyLMConfig, train_tiny_lm

    if n_embd % n_head:
        raise UserError(f"--n-embd {n_embd} must be a multiple of --n-head {n_head}")
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} exists and is not a folder")
    dev = choose_device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda asked for, but no CUDA GPU is available")
    if not (corpus_dir / "train.txt").is_file():
        typer.echo(f"building the corpus in {corpus_dir} ...")
        build_corpus(corpus_dir, max_natural_chars=max_natural_chars, n_entity_docs=entity_docs, seed=seed)
    cfg = TinyLMConfig(vocab_size=vocab_size, n_positions=n_positions, n_embd=n_embd, n_layer=n_layer, n_head=n_head,
                       batch_size=batch_size, lr=lr, max_steps=max_steps, max_minutes=max_minutes, seed=seed,
                       warmup_steps=min(200, max(1, max_steps // 10)), eval_every=max(1, min(500, max_steps // 4)))
    with Progress(transient=True, disable=quiet) as progress:
        task = progress.add_task("training", total=max_steps)
        metrics = train_tiny_lm(corpus_dir, out, cfg, dev, on_progress=lambda step, total, info: progress.update(task, completed=step))
    typer.echo(f"saved {out}: {metrics['parameters'] / 1e6:.1f} M parameters, {metrics['steps']} steps, "
               f"valid perplexity {metrics['valid_ppl']:.2f}, entity-document perplexity {metrics['entity_valid_ppl']:.2f}")
