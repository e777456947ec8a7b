"""Save and load a whole moment bank, so memory survives across sessions and prompts.

One file: a safetensors archive whose tensors are the bank's live rows and the episode chains,
and whose header metadata holds a JSON document (format tag, version, vocabulary size and
fingerprint, model name, config, context texts, step). Writing goes to a temporary file in the
same folder that is renamed over the target only when complete: a failure leaves no partial file.
Loading refuses a bank made for another vocabulary with a clear message.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from engine.moment.chains import EpisodeChain
from engine.moment.memory import MomentMemory

FORMAT = "memscope-moment-bank"
VERSION = 1


class BankFileError(ValueError):
    """The file is not a moment bank, or is one this memory cannot use (other vocabulary, top-k, size)."""


def vocab_fingerprint(tokenizer) -> str:
    """A short hash of the tokenizer's token -> id map (two tokenizers with equal maps match)."""
    items = sorted(tokenizer.get_vocab().items(), key=lambda kv: kv[1])
    return hashlib.sha256(json.dumps(items, ensure_ascii=False).encode()).hexdigest()[:16]


def save_bank(memory: MomentMemory, path: str | Path, model_name: str | None = None) -> Path:
    """Write ``memory``'s bank, texts and episode chains to ``path`` atomically; returns the path."""
    path = Path(path)
    memory.flush()
    memory.bank.compact()
    tensors = {f"bank.{name}": t for name, t in memory.bank.state().items()}
    episodes = memory.episodes + ([memory.episode] if len(memory.episode) else [])
    for i, chain in enumerate(episodes):
        for field in ("moment_ids", "steps", "topk_ids", "q"):
            tensors[f"episode.{i}.{field}"] = torch.from_numpy(np.ascontiguousarray(getattr(chain, field)))
    meta = {"format": FORMAT, "version": VERSION, "vocab_size": memory.vocab_size, "vocab_fingerprint": memory.vocab_fingerprint,
            "model": model_name, "config": memory.config.to_dict(), "step": memory.step, "episodes": len(episodes),
            "texts": {str(k): v for k, v in memory.texts.items()}}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        save_file(tensors, str(tmp), metadata={"memscope": json.dumps(meta)})
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def read_bank_meta(path: str | Path) -> dict:
    """The JSON header of a bank file; :class:`BankFileError` if it is not one."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise BankFileError(f"memory bank {path} does not exist")
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = (f.metadata() or {}).get("memscope")
    except (SafetensorError, OSError, ValueError) as exc:
        raise BankFileError(f"{path} is not a safetensors file ({exc})") from None
    try:
        meta = json.loads(raw) if raw else None
    except json.JSONDecodeError:
        meta = None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise BankFileError(f"{path} is a safetensors file but not a memscope moment bank")
    if meta.get("version") != VERSION:
        raise BankFileError(f"{path} is a moment bank of format version {meta.get('version')}; this memscope reads version {VERSION}")
    return meta


def load_bank(memory: MomentMemory, path: str | Path) -> dict:
    """Replace ``memory``'s bank, texts and episodes with the file's; returns its metadata.

    Refused (:class:`BankFileError`, memory untouched) when the vocabulary differs (size or
    fingerprint), or when top-k or capacity do not fit.
    """
    meta = read_bank_meta(path)
    if meta["vocab_size"] != memory.vocab_size or (meta.get("vocab_fingerprint") and memory.vocab_fingerprint
                                                   and meta["vocab_fingerprint"] != memory.vocab_fingerprint):
        raise BankFileError(
            f"memory bank {path} was made for another vocabulary (model {meta.get('model')!r}, {meta['vocab_size']} tokens, "
            f"fingerprint {meta.get('vocab_fingerprint')}); this model has {memory.vocab_size} tokens (fingerprint {memory.vocab_fingerprint})"
        )
    tensors = load_file(str(path))
    state = {name[len("bank."):]: t for name, t in tensors.items() if name.startswith("bank.")}
    try:
        memory.bank.load_state(state)
    except ValueError as exc:
        raise BankFileError(f"memory bank {path}: {exc}") from None
    memory.texts = {int(k): v for k, v in meta.get("texts", {}).items()}
    memory.episodes = [EpisodeChain(*(tensors[f"episode.{i}.{f}"].numpy() for f in ("moment_ids", "steps", "topk_ids", "q")))
                       for i in range(meta.get("episodes", 0))]
    memory.step = max(memory.step, int(meta.get("step", 0)))
    memory.step_t.fill_(memory.step)
    return meta
