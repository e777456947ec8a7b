"""The tiny-LM training path on a CPU with a tiny corpus and a few steps."""

import random

import pytest

from app.cli import main
from engine.lm.corpus import build_corpus, entity_document, entity_documents, read_documents
from engine.lm.loading import load_lm


def test_entity_documents_repeat_their_entities_far_apart():
    doc = entity_document(random.Random(3))
    first_paragraph = doc.split("\n\n")[0]
    names = [part.split(",")[0] for part in first_paragraph.split(". ")]
    assert entity_documents(2, seed=5) == entity_documents(2, seed=5)
    assert entity_documents(2, seed=5) != entity_documents(2, seed=6)
    words = doc.split()
    # some word of the introduction reappears more than 150 words later
    intro = set(first_paragraph.split())
    later = set(words[150:])
    assert any(w[0].isupper() and w in later for w in intro - {"In", "The", "Everyone"}), names


def test_train_lm_command_runs_on_cpu_and_saves_a_loadable_model(tmp_path, capsys):
    corpus = tmp_path / "corpus"
    build_corpus(corpus, max_natural_chars=60_000, n_entity_docs=20)
    assert len(read_documents(corpus / "train.txt")) > 20
    out = tmp_path / "lm"
    with pytest.raises(SystemExit) as exc:
        main(["train", "lm", "--out", str(out), "--corpus-dir", str(corpus), "--device", "cpu", "--max-steps", "6",
              "--batch-size", "2", "--vocab-size", "400", "--n-positions", "32", "--n-embd", "16", "--n-layer", "1", "--n-head", "2", "--quiet"])
        raise SystemExit(0)
    assert exc.value.code == 0
    assert "valid perplexity" in capsys.readouterr().out
    lm = load_lm(str(out), device="cpu")
    assert lm.vocab_size == len(lm.tokenizer) and lm.context_length == 32
    assert (out / "model.safetensors").is_file() and (out / "metrics.json").is_file()


def test_train_lm_refuses_bad_shapes(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "lm", "--out", str(tmp_path / "x"), "--n-embd", "30", "--n-head", "4"])
    assert exc.value.code == 2 and "multiple of --n-head" in capsys.readouterr().err
