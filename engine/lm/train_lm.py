"""Train the embedded tiny language model: a byte-level BPE tokenizer and a small GPT-2.

``memscope train lm`` calls :func:`train_tiny_lm`. It runs on a CPU (slowly; use few steps) or on
CUDA with bf16 autocast, stops at ``max_steps`` or after ``max_minutes``, and saves the model and
tokenizer with ``save_pretrained`` (safetensors, fp16 weights) so that
:func:`engine.lm.loading.load_lm` loads them like any Hugging Face model.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch

from engine.lm.corpus import read_documents

EOS = "<|endoftext|>"


@dataclass
class TinyLMConfig:
    """Sizes and schedule of the tiny LM (defaults: the shipped model, ~6 M parameters)."""

    vocab_size: int = 8192
    n_positions: int = 256
    n_embd: int = 256
    n_layer: int = 6
    n_head: int = 8
    dropout: float = 0.1
    batch_size: int = 64
    lr: float = 2e-3
    warmup_steps: int = 200
    max_steps: int = 20_000
    max_minutes: float = 6.5
    eval_every: int = 500
    seed: int = 0


def train_tokenizer(train_file: Path, vocab_size: int, out_dir: Path):
    """A byte-level BPE tokenizer trained on ``train_file``; returns a ``GPT2TokenizerFast``.

    (``GPT2Tokenizer(vocab_file=..., merges_file=...)`` is empty under transformers 5, see
    STACK_NOTES.md; the fast tokenizer built from the trained ``tokenizer.json`` is not.)
    """
    from tokenizers import ByteLevelBPETokenizer
    from transformers import GPT2TokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train([str(train_file)], vocab_size=vocab_size, min_frequency=2, special_tokens=[EOS], show_progress=False)
    out_dir.mkdir(parents=True, exist_ok=True)
    tok_file = out_dir / "tokenizer.json"
    bpe.save(str(tok_file))
    tokenizer = GPT2TokenizerFast(tokenizer_file=str(tok_file), bos_token=EOS, eos_token=EOS, unk_token=EOS)
    if len(tokenizer) < 256:
        raise RuntimeError(f"the trained tokenizer is empty ({len(tokenizer)} tokens)")
    return tokenizer


def encode_documents(tokenizer, docs: list[str]) -> torch.Tensor:
    """All documents as one stream of token ids, separated by the end-of-text id: ``(N,)`` long."""
    eos = tokenizer.convert_tokens_to_ids(EOS)
    out: list[int] = []
    for ids in tokenizer(docs, add_special_tokens=False)["input_ids"]:
        out.extend(ids)
        out.append(eos)
    return torch.tensor(out, dtype=torch.long)


def build_model(cfg: TinyLMConfig):
    """A randomly initialised ``GPT2LMHeadModel`` of the configured shape."""
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(
        vocab_size=cfg.vocab_size, n_positions=cfg.n_positions, n_embd=cfg.n_embd, n_layer=cfg.n_layer,
        n_head=cfg.n_head, resid_pdrop=cfg.dropout, embd_pdrop=cfg.dropout, attn_pdrop=cfg.dropout,
        bos_token_id=0, eos_token_id=0,
    )
    return GPT2LMHeadModel(config)


def random_batch(stream: torch.Tensor, batch_size: int, length: int, generator: torch.Generator) -> torch.Tensor:
    """``(B, length + 1)`` windows cut at random offsets of the token stream."""
    starts = torch.randint(0, stream.numel() - length - 1, (batch_size,), generator=generator)
    return torch.stack([stream[s : s + length + 1] for s in starts.tolist()])


@torch.no_grad()
def perplexity(model, stream: torch.Tensor, length: int, device: torch.device, max_windows: int = 200) -> float:
    """Perplexity over consecutive non-overlapping windows of ``length`` tokens (teacher forced)."""
    model.eval()
    n = min(max_windows, (stream.numel() - 1) // length)
    total, count = 0.0, 0
    for i in range(0, n, 16):
        rows = [stream[j * length : j * length + length + 1] for j in range(i, min(n, i + 16))]
        batch = torch.stack(rows).to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            logits = model(batch[:, :-1]).logits.float()
        nll = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), batch[:, 1:].reshape(-1), reduction="sum")
        total += nll.item()
        count += batch[:, 1:].numel()
    model.train()
    return math.exp(total / max(count, 1))


def _lr(step: int, cfg: TinyLMConfig, time_fraction: float) -> float:
    """Linear warm-up, then cosine decay to 10 % over whichever budget (steps or time) runs out first."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = min(1.0, max((step - cfg.warmup_steps) / max(1, cfg.max_steps - cfg.warmup_steps), time_fraction))
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def train_tiny_lm(
    corpus_dir: Path,
    out_dir: Path,
    cfg: TinyLMConfig,
    device: torch.device,
    on_progress: Callable[[int, int, dict], None] | None = None,
) -> dict:
    """Train tokenizer + model on ``corpus_dir`` (see :func:`engine.lm.corpus.build_corpus`), save to ``out_dir``.

    Returns the metrics written to ``out_dir/metrics.json``: validation perplexity on natural
    text and on held-out entity documents, tokens seen, parameters, wall time.
    ``on_progress(step, total, info)`` is called every few steps (a progress bar).
    """
    torch.manual_seed(cfg.seed)
    started = time.time()
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = train_tokenizer(corpus_dir / "train.txt", cfg.vocab_size, out_dir)
    train_stream = encode_documents(tokenizer, read_documents(corpus_dir / "train.txt"))
    valid_stream = encode_documents(tokenizer, read_documents(corpus_dir / "valid.txt"))
    entity_stream = encode_documents(tokenizer, read_documents(corpus_dir / "entity_valid.txt"))
    cfg.vocab_size = len(tokenizer)
    model = build_model(cfg).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.1, betas=(0.9, 0.95))
    generator = torch.Generator().manual_seed(cfg.seed)
    deadline = started + cfg.max_minutes * 60
    train_start = time.time()
    history: list[dict] = []
    step = 0
    model.train()
    for step in range(cfg.max_steps):
        now = time.time()
        if now > deadline:
            break
        for group in optimizer.param_groups:
            group["lr"] = _lr(step, cfg, (now - train_start) / max(1e-9, deadline - train_start))
        batch = random_batch(train_stream, cfg.batch_size, cfg.n_positions, generator).to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            logits = model(batch[:, :-1]).logits
        loss = torch.nn.functional.cross_entropy(logits.float().reshape(-1, logits.size(-1)), batch[:, 1:].reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if (step + 1) % cfg.eval_every == 0:
            history.append({"step": step + 1, "train_loss": loss.item(), "valid_ppl": perplexity(model, valid_stream, cfg.n_positions, device, 50)})
        if on_progress is not None and step % 10 == 0:
            on_progress(step, cfg.max_steps, {"loss": loss.item()})
    steps_done = step + 1
    metrics = {
        "steps": steps_done,
        "tokens_seen": steps_done * cfg.batch_size * cfg.n_positions,
        "train_tokens": int(train_stream.numel()),
        "parameters": sum(p.numel() for p in model.parameters()),
        "valid_ppl": perplexity(model, valid_stream, cfg.n_positions, device),
        "entity_valid_ppl": perplexity(model, entity_stream, cfg.n_positions, device),
        "wall_seconds": round(time.time() - started, 1),
        "device": str(device),
        "config": asdict(cfg),
        "history": history,
    }
    save_tiny_lm(model, tokenizer, out_dir)
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics


def save_tiny_lm(model, tokenizer, out_dir: Path) -> None:
    """``save_pretrained`` of model (fp16 safetensors) and tokenizer into ``out_dir``."""
    model.eval()
    model.to(device="cpu", dtype=torch.float16).save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)


