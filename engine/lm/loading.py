"""Load any Hugging Face causal LM (hub id or local folder) with its tokenizer, offline-safe.

Without a network, ``from_pretrained`` on a hub id retries for ~46 s and ``GPT2Tokenizer`` can
come back silently EMPTY (STACK_NOTES.md). So :func:`load_lm`:

1. loads a local folder with ``local_files_only=True``;
2. for a hub id, tries the local cache first (``local_files_only=True``);
3. only when the id is not cached, offline mode is off and ``huggingface.co`` answers within
   3 s, downloads it; otherwise raises :class:`ModelUnavailableError` at once;
4. checks what loaded: a non-empty tokenizer whose ids fit the model's vocabulary.

``trust_remote_code`` stays ``False`` unless the caller asks for it.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

import torch

TINY_LM_DIR = Path(__file__).resolve().parents[2] / "sample_traces" / "models" / "tiny-lm"
"""The embedded default model (trained by ``memscope train lm``)."""


class ModelUnavailableError(ValueError):
    """The model or its tokenizer cannot be loaded (missing, offline, or broken)."""


@dataclass
class LoadedLM:
    """A causal LM ready for inference: ``model`` in eval mode on ``device`` in ``dtype``."""

    model: torch.nn.Module
    tokenizer: object
    name: str
    device: torch.device
    dtype: torch.dtype

    @property
    def context_length(self) -> int:
        """Longest input the model accepts (``n_positions`` / ``max_position_embeddings``)."""
        cfg = self.model.config
        for key in ("n_positions", "max_position_embeddings", "n_ctx", "seq_length"):
            value = getattr(cfg, key, None)
            if isinstance(value, int) and value > 0:
                return value
        return 2048

    @property
    def vocab_size(self) -> int:
        """Rows of the output layer (the length of a next-token distribution)."""
        return int(self.model.get_output_embeddings().weight.shape[0])


def choose_device(device: str | torch.device | None = None) -> torch.device:
    """``device`` when given, else CUDA when present, else CPU."""
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def choose_dtype(device: torch.device, dtype: str | torch.dtype | None = None) -> torch.dtype:
    """``dtype`` when given; else bf16 on CUDA (when supported) and fp32 on CPU."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype is not None:
        names = {"float32": torch.float32, "fp32": torch.float32, "float16": torch.float16, "fp16": torch.float16, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}
        if dtype not in names:
            raise ValueError(f"unknown dtype {dtype!r}; use one of {sorted(names)}")
        return names[dtype]
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in {"1", "true", "yes", "on"}


def _hub_reachable(timeout: float = 3.0) -> bool:
    try:
        with socket.create_connection(("huggingface.co", 443), timeout=timeout):
            return True
    except OSError:
        return False


def _from_pretrained(source: str, local_only: bool, trust_remote_code: bool, dtype: torch.dtype):
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()

    tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=local_only, trust_remote_code=trust_remote_code)
    model = AutoModelForCausalLM.from_pretrained(source, local_files_only=local_only, trust_remote_code=trust_remote_code, dtype=dtype)
    return model, tokenizer


def load_lm(
    name: str | Path | None = None,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
    trust_remote_code: bool = False,
) -> LoadedLM:
    """Load ``name`` (hub id or folder; ``None`` = the embedded tiny LM) for inference.

    Raises :class:`ModelUnavailableError` with a one-line reason when it cannot be loaded.
    """
    source = str(TINY_LM_DIR if name is None else name)
    dev = choose_device(device)
    dt = choose_dtype(dev, dtype)
    local = Path(source).expanduser()
    try:
        if local.is_dir():
            if not (local / "config.json").is_file():
                raise ModelUnavailableError(f"{local} is a folder but holds no config.json (not a save_pretrained model)")
            model, tokenizer = _from_pretrained(str(local), True, trust_remote_code, dt)
        elif local.exists() or source.startswith((".", "/", "~")):
            hint = " (train it with `memscope train lm`)" if name is None else ""
            raise ModelUnavailableError(f"model folder {source} does not exist or is not a folder{hint}")
        else:
            model, tokenizer = _load_hub(source, trust_remote_code, dt)
    except ModelUnavailableError:
        raise
    except (OSError, ValueError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelUnavailableError(f"cannot load model {source!r}: {first}") from None
    _check_tokenizer(tokenizer, model, source)
    if tokenizer.pad_token_id is None and tokenizer.eos_token_id is not None:
        tokenizer.pad_token = tokenizer.eos_token
    model.to(device=dev, dtype=dt).eval()
    return LoadedLM(model=model, tokenizer=tokenizer, name=source, device=dev, dtype=dt)


def _load_hub(source: str, trust_remote_code: bool, dt: torch.dtype):
    try:
        return _from_pretrained(source, True, trust_remote_code, dt)
    except (OSError, ValueError):
        pass
    if _offline():
        raise ModelUnavailableError(
            f"model {source!r} is not a local folder and not in the Hugging Face cache, and offline mode is on "
            "(HF_HUB_OFFLINE=1); pass a local folder or run where the hub is reachable"
        )
    if not _hub_reachable():
        raise ModelUnavailableError(f"model {source!r} is not cached and huggingface.co cannot be reached (no network)")
    return _from_pretrained(source, False, trust_remote_code, dt)


def _check_tokenizer(tokenizer, model, source: str) -> None:
    """Refuse an empty tokenizer or one whose ids do not fit the model's output layer."""
    n = len(tokenizer)
    if n == 0 or not tokenizer("a b", add_special_tokens=False)["input_ids"]:
        raise ModelUnavailableError(f"the tokenizer of {source!r} loaded EMPTY (offline download cut short?)")
    rows = model.get_output_embeddings().weight.shape[0]
    if n > rows:
        raise ModelUnavailableError(f"the tokenizer of {source!r} has {n} tokens but the model only {rows} output rows")
