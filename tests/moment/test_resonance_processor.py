"""The moment memory inside transformers' generate: same tokens with and without tracing."""

import pytest
import torch
from transformers import LogitsProcessorList

from engine.moment.config import MomentConfig
from engine.moment.memory import MomentMemory
from engine.moment.resonance import MomentLogitsProcessor
from tests.moment.conftest import tiny_gpt2
from tracing.recorder import NULL_RECORDER, MemoryRecorder

VOCAB = 300


def _generate(model, ids, memory=None, reinject=True, new=40):
    processors = LogitsProcessorList([MomentLogitsProcessor(memory, reinject=reinject)]) if memory is not None else None
    out = model.generate(ids, max_new_tokens=new, min_new_tokens=new, do_sample=False, pad_token_id=0, logits_processor=processors)
    if processors is not None:
        processors[0].finish(out)
    return out


def _config():
    # adaptive thresholds with a short warm-up and a generous resonance threshold: both fire on a random model
    return MomentConfig(k=8, capacity=64, min_history=4, window=16, gamma=1.0, min_age=4, flush_every=8, resonance_threshold=0.98, lam=0.5)


def test_observing_memory_without_reinjection_equals_plain_generate():
    model = tiny_gpt2(VOCAB)
    ids = torch.randint(0, VOCAB, (2, 6))
    rec = MemoryRecorder()
    memory = MomentMemory(VOCAB, "cpu", _config(), recorder=rec, batch_size=2)
    assert torch.equal(_generate(model, ids), _generate(model, ids, memory, reinject=False))
    assert rec.tables()["steps"].num_rows == 2 * 40
    assert memory.size > 0


def test_tracing_never_changes_generated_tokens():
    model = tiny_gpt2(VOCAB)
    ids = torch.randint(0, VOCAB, (1, 6))
    rec = MemoryRecorder()
    traced = _generate(model, ids, MomentMemory(VOCAB, "cpu", _config(), recorder=rec))
    untraced = _generate(model, ids, MomentMemory(VOCAB, "cpu", _config(), recorder=NULL_RECORDER))
    assert torch.equal(traced, untraced)
    ops = rec.tables()["memory_events"].to_pandas().op
    assert (ops == "resonance").any() and (ops == "write").any(), "the run must exercise storage and re-injection"


def test_reinjection_changes_generation_when_memory_resonates():
    model = tiny_gpt2(VOCAB)
    ids = torch.randint(0, VOCAB, (1, 6))
    cfg = _config()
    cfg.lam = 1.0
    assert not torch.equal(_generate(model, ids), _generate(model, ids, MomentMemory(VOCAB, "cpu", cfg)))


def test_every_generated_token_is_a_traced_step():
    model = tiny_gpt2(VOCAB)
    ids = torch.randint(0, VOCAB, (1, 5))
    rec = MemoryRecorder()
    out = _generate(model, ids, MomentMemory(VOCAB, "cpu", _config(), recorder=rec), new=12)
    steps = rec.tables()["steps"].to_pandas()
    assert steps.token_id.tolist() == out[0, 5:].tolist()


def test_beam_search_is_refused_with_a_clear_message():
    model = tiny_gpt2(VOCAB)
    ids = torch.randint(0, VOCAB, (1, 5))
    processors = LogitsProcessorList([MomentLogitsProcessor(MomentMemory(VOCAB, "cpu", _config()))])
    with pytest.raises(ValueError, match="beam search"):
        model.generate(ids, max_new_tokens=3, num_beams=2, pad_token_id=0, logits_processor=processors)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_compiled_memory_on_cuda_matches_eager():
    model = tiny_gpt2(VOCAB).cuda()
    ids = torch.randint(0, VOCAB, (1, 6), device="cuda")
    outs, tables = [], []
    for compiled in (False, True):
        cfg = _config()
        cfg.compile = compiled
        rec = MemoryRecorder()
        outs.append(_generate(model, ids, MomentMemory(VOCAB, "cuda", cfg, recorder=rec)))
        tables.append(rec.tables()["memory_events"].to_pandas()[["step", "op", "cell"]])
    assert torch.equal(outs[0], outs[1])
    assert tables[0].equals(tables[1]) and (tables[0].op == "resonance").any()
