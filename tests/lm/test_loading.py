import time

import pytest
import torch

from engine.lm.loading import TINY_LM_DIR, ModelUnavailableError, choose_dtype, load_lm

def test_the_embedded_tiny_lm_loads_through_the_generic_path():
    lm = load_lm(None, device="cpu")
    assert lm.dtype == torch.float32 and lm.vocab_size == len(lm.tokenizer) == 8192
    assert lm.context_length == 256
    ids = lm.tokenizer("The harbour clerk", return_tensors="pt")["input_ids"]
    assert ids.shape[1] > 1
    logits = lm.model(ids).logits
    assert logits.shape == (1, ids.shape[1], 8192) and torch.isfinite(logits).all()


def test_the_tiny_lm_is_small_enough_to_ship():
    size = sum(p.stat().st_size for p in TINY_LM_DIR.iterdir())
    assert size < 20_000_000


def test_unknown_hub_id_offline_fails_fast(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.time()
    with pytest.raises(ModelUnavailableError, match="offline mode is on"):
        load_lm("no-such-org/no-such-model-xyz", device="cpu")
    assert time.time() - start < 20


def test_missing_folder_and_folder_without_config(tmp_path):
    with pytest.raises(ModelUnavailableError, match="does not exist"):
        load_lm(str(tmp_path / "nope"), device="cpu")
    with pytest.raises(ModelUnavailableError, match="no config.json"):
        load_lm(str(tmp_path), device="cpu")


def test_an_empty_tokenizer_is_refused(tmp_path, monkeypatch):
    from engine.lm import loading

    class Empty:
        def __len__(self):
            return 0

        def __call__(self, *a, **k):
            return {"input_ids": []}

    class Model:
        def get_output_embeddings(self):
            return torch.nn.Linear(2, 10)

    with pytest.raises(ModelUnavailableError, match="EMPTY"):
        loading._check_tokenizer(Empty(), Model(), "x")


def test_dtype_choice():
    assert choose_dtype(torch.device("cpu")) == torch.float32
    assert choose_dtype(torch.device("cpu"), "bf16") == torch.bfloat16
    with pytest.raises(ValueError, match="unknown dtype"):
        choose_dtype(torch.device("cpu"), "float8")
