"""Fixtures of the moment-memory tests: a tiny random GPT-2 and the shipped tiny LM's tokenizer."""

from __future__ import annotations

import pytest
import torch

from engine.lm.loading import TINY_LM_DIR, LoadedLM


@pytest.fixture(scope="session")
def tiny_tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(TINY_LM_DIR), local_files_only=True)


def tiny_gpt2(vocab_size: int = 8192, n_positions: int = 64, seed: int = 0):
    """A randomly initialised 2-layer GPT-2 (sub-second on a CPU)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=vocab_size, n_positions=n_positions, n_embd=32, n_layer=2, n_head=2,
                                       bos_token_id=0, eos_token_id=0))
    return model.eval()


@pytest.fixture
def tiny_lm(tiny_tokenizer) -> LoadedLM:
    """The shipped tokenizer over a tiny random model with a 64-token context."""
    return LoadedLM(model=tiny_gpt2(len(tiny_tokenizer)), tokenizer=tiny_tokenizer, name="tiny-random",
                    device=torch.device("cpu"), dtype=torch.float32)
