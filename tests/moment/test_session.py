"""The live session: streamed events, pinning, bad prompts, context sliding, memory across prompts."""

import warnings

import pytest
import torch

from engine.moment.config import MomentConfig
from engine.moment.prompt import EmptyPromptError, PromptWarning, clean_prompt
from engine.moment.session import MomentSession, TokenEvent
from tracing.recorder import MemoryRecorder


def _session(lm, **cfg):
    base = dict(min_history=4, window=16, gamma=1.0, min_age=4, flush_every=8, k=8, capacity=256)
    base.update(cfg)
    return MomentSession(lm, MomentConfig(**base), recorder=MemoryRecorder(), temperature=0.0)


def test_events_stream_prompt_then_generated_tokens(tiny_lm):
    session = _session(tiny_lm)
    events = list(session.generate("the river and the mill", max_new_tokens=6))
    prompt_ids = tiny_lm.tokenizer("the river and the mill", add_special_tokens=False)["input_ids"]
    assert all(isinstance(e, TokenEvent) for e in events)
    assert [e.is_prompt for e in events] == [True] * (len(prompt_ids) - 1) + [False] * 6
    assert [e.step for e in events] == list(range(len(events)))
    assert [e.token_id for e in events[: len(prompt_ids) - 1]] == prompt_ids[1:]
    assert all(e.entropy >= 0 and e.surprisal >= 0 and e.kl >= 0 for e in events)
    steps = session.memory.recorder.tables()["steps"].to_pandas()
    assert steps.token_id.tolist() == [e.token_id for e in events]


def test_pin_stores_the_next_generated_boundary(tiny_lm):
    session = _session(tiny_lm, triggers=("kl_shift",), threshold_mode="fixed", fixed={"kl": 1e9})
    gen = session.generate("a b", max_new_tokens=3)
    first = next(gen)
    assert not first.stored
    session.pin()
    second = next(gen)
    assert second.stored and second.trigger == "pinned" and second.moment_id == 0
    list(gen)


def test_session_matches_plain_greedy_decoding_when_reinjection_cannot_fire(tiny_lm):
    session = _session(tiny_lm, lam=0.0)
    ids = tiny_lm.tokenizer("the river", return_tensors="pt")["input_ids"]
    out = tiny_lm.model.generate(ids, max_new_tokens=8, min_new_tokens=8, do_sample=False, pad_token_id=0)
    events = [e for e in session.generate("the river", max_new_tokens=8) if not e.is_prompt]
    assert [e.token_id for e in events] == out[0, ids.shape[1]:].tolist()


def test_bank_persists_across_prompts_and_resonance_reports_hits(tiny_lm):
    session = _session(tiny_lm, resonance_threshold=0.99, min_age=1)
    list(session.generate("the river and the mill and the bells", max_new_tokens=10))
    size = session.memory.size
    assert size > 0
    events = list(session.generate("the river and the mill and the bells", max_new_tokens=10))
    hits = [e for e in events if e.hits]
    assert hits and all(h.divergence < 1.0 for e in hits for h in e.hits)
    assert any(e.boost > 0 for e in events)
    assert session.memory.size >= size or session.memory.last_consolidation is not None


def test_context_text_is_reintroduced_once_per_moment(tiny_lm):
    session = MomentSession(tiny_lm, MomentConfig(min_history=4, window=16, gamma=0.5, min_age=1, flush_every=8, k=8,
                                                  resonance_threshold=0.99), temperature=0.0, reinject_context=True)
    events = list(session.generate("the river and the mill and the bells of the town", max_new_tokens=20))
    reintroduced = [e for e in events if e.reintroduced]
    assert reintroduced, "a resonance with stored text must re-introduce it"
    ids = [e.hits[0].moment_id for e in reintroduced]
    assert len(ids) == len(set(ids))


def test_empty_and_control_only_prompts_are_refused(tiny_lm):
    session = _session(tiny_lm)
    for bad in ("", "   \n", "\x00\x07\x1b", b""):
        with pytest.raises(EmptyPromptError):
            next(session.generate(bad, 3))


def test_non_utf8_bytes_and_control_characters_are_cleaned_with_a_warning():
    with pytest.warns(PromptWarning, match="UTF-8"):
        assert clean_prompt(b"caf\xe9 ok") == "caf\ufffd ok"
    with pytest.warns(PromptWarning, match="control"):
        assert clean_prompt("a\x00b\x1b[31mc\td\n") == "ab[31mc\td\n"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert clean_prompt("plain text") == "plain text"


def test_a_prompt_longer_than_the_context_is_truncated_and_generation_slides(tiny_lm):
    session = _session(tiny_lm)
    long_prompt = " ".join(["river"] * 200)  # the tiny model's context is 64 tokens
    with pytest.warns(PromptWarning, match="kept the last"):
        events = list(session.generate(long_prompt, max_new_tokens=80))
    generated = [e for e in events if not e.is_prompt]
    assert len(generated) == 80  # more than the context: the window slid instead of crashing


def test_store_embedding_keeps_the_last_hidden_state_in_fp16(tiny_lm):
    session = _session(tiny_lm, store_embedding=True)
    session.pin()
    list(session.generate("the river", max_new_tokens=2))
    assert session.memory.bank.embedding is not None and session.memory.bank.embedding.dtype == torch.float16
    assert session.memory.bank.embedding[0].abs().sum() > 0
    recorded = session.memory.recorder.tables()["moments"].column("embedding").to_pylist()[0]
    assert len(recorded) == 32 and torch.allclose(torch.tensor(recorded), session.memory.bank.embedding[0].float(), atol=1e-2)


def test_tracing_never_changes_sampled_session_tokens(tiny_lm):
    cfg = dict(min_history=4, window=16, gamma=1.0, min_age=2, flush_every=8, k=8, resonance_threshold=0.99)
    traced = MomentSession(tiny_lm, MomentConfig(**cfg), recorder=MemoryRecorder(), temperature=0.9, seed=7)
    untraced = MomentSession(tiny_lm, MomentConfig(**cfg), temperature=0.9, seed=7)
    a = [e.token_id for e in traced.generate("the river and the mill", 24)]
    b = [e.token_id for e in untraced.generate("the river and the mill", 24)]
    assert a == b
    assert traced.memory.recorder.tables()["steps"].num_rows == len(a)


def test_an_episode_chain_is_recognised_when_the_text_returns(tiny_lm):
    from engine.moment.chains import best_episode

    session = _session(tiny_lm, gamma=0.5, capacity=512)
    texts = ["the river and the mill and the bells of the old town", "numbers: 1 2 3 4 5 6 7 8 9 10 11 12 13 14"]
    for text in texts:
        list(session.generate(text, max_new_tokens=0))
        assert len(session.memory.end_episode()) > 0
    list(session.generate(texts[0], max_new_tokens=0))
    query = session.memory.end_episode()
    index, match = best_episode(session.memory.episodes[:2], query, tiny_lm.vocab_size)
    assert index == 0 and match.distance < best_episode(session.memory.episodes[1:2], query, tiny_lm.vocab_size)[1].distance
