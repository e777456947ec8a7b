"""The vectorised bank against the naive step-by-step reference, and the memory policies end to end."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from engine.memnet.bank import MemoryIO, MultiHeadMemoryBank
from engine.memnet.reference import naive_memory
from tracing.recorder import MemoryRecorder
from engine.memnet.trace import emit_records


def random_io(b: int, h: int, t: int, d: int, gate: float | None = None) -> MemoryIO:
    g = torch.Generator().manual_seed(1)
    r = lambda *s: torch.rand(*s, generator=g)  # noqa: E731
    n = lambda *s: torch.randn(*s, generator=g)  # noqa: E731
    return MemoryIO(n(b, h, t, d), 1 + 3 * r(b, h, t), n(b, h, t, d), 1 + 3 * r(b, h, t), n(b, h, t, d),
                    r(b, h, t) if gate is None else torch.full((b, h, t), gate), r(b, h, t), r(b, h, t, d))


@pytest.mark.parametrize("hard_writes, slot_keys", [(False, False), (True, False), (False, True)])
def test_chunk_size_one_equals_naive_reference(tiny_config, hard_writes, slot_keys):
    cfg = dataclasses.replace(tiny_config, chunk_size=1, window=8, hard_writes=hard_writes, slot_keys=slot_keys)
    bank = MultiHeadMemoryBank(cfg).eval()
    with torch.no_grad():
        bank.decay_logit.uniform_(2.0, 6.0)
    state = bank.initial_state(3, torch.device("cpu"))
    state.age = torch.rand(3, 2, 8) * 10  # distinct ages: no ties in the LRU choice
    state.memory = torch.randn(3, 2, 8, 8)  # distinct similarities: no ties in top-k
    if slot_keys:
        state.keys = torch.randn(3, 2, 8, 8)
    io = random_io(3, 2, 12, 8)
    fast, fast_state, _, _ = bank(io, state)
    slow, slow_state = naive_memory(bank, io, state)
    torch.testing.assert_close(fast, slow, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(fast_state.memory, slow_state.memory, rtol=1e-4, atol=1e-5)
    if slot_keys:
        torch.testing.assert_close(fast_state.keys, slow_state.keys, rtol=1e-4, atol=1e-5)
    else:
        assert fast_state.keys is None and slow_state.keys is None
    torch.testing.assert_close(fast_state.age, slow_state.age)
    torch.testing.assert_close(fast_state.usage, slow_state.usage, rtol=1e-4, atol=1e-5)
    assert torch.equal(fast_state.live, slow_state.live)


def test_gradients_reach_every_controller_signal(tiny_config):
    bank = MultiHeadMemoryBank(tiny_config)
    io = random_io(2, 2, 12, 8)
    for t in vars(io).values():
        t.requires_grad_(True)
    reads, _, stats, _ = bank(io, bank.initial_state(2, torch.device("cpu")))
    (reads.sum() + stats.read_mass.max()).backward()
    for name, t in vars(io).items():
        assert t.grad is not None and t.grad.abs().sum() > 0, name
    assert bank.decay_logit.grad.abs().sum() > 0


def test_slot_keys_address_by_key_not_content(tiny_config):
    """With slot keys a read finds the slot whose *key* matches, whatever its content holds."""
    cfg = dataclasses.replace(tiny_config, slot_keys=True, decay=False, top_k=1, chunk_size=1, window=8)
    bank = MultiHeadMemoryBank(cfg).eval()
    state = bank.initial_state(1, torch.device("cpu"))
    state.keys = torch.eye(8).expand(1, 2, 8, 8).clone()  # slot i has key e_i
    state.memory = torch.randn(1, 2, 8, 8)
    io = random_io(1, 2, 1, 8, gate=0.0)
    io.read_key = torch.zeros(1, 2, 1, 8)
    io.read_key[..., 5] = 1.0  # asks for key e_5
    _, _, _, records = bank(io, state, record=True)
    assert records[0].read_idx[..., 0].eq(5).all()
    cfg_content = dataclasses.replace(cfg, slot_keys=False)
    _, _, _, records = MultiHeadMemoryBank(cfg_content).eval()(io, state, record=True)
    expected = torch.nn.functional.normalize(state.memory, dim=-1)[..., 5].argmax(dim=-1)
    assert records[0].read_idx[..., 0, 0].eq(expected).all()


def test_slot_keys_follow_the_writes(tiny_config):
    """A full-weight allocation replaces the slot's key by the unit write key; no write leaves keys alone."""
    cfg = dataclasses.replace(tiny_config, slot_keys=True, decay=False, chunk_size=1, window=8)
    bank = MultiHeadMemoryBank(cfg).eval()
    state = bank.initial_state(1, torch.device("cpu"))
    state.keys = torch.randn(1, 2, 8, 8)
    state.age = torch.arange(8.0).expand(1, 2, 8).clone()  # slot 7 is the stalest
    io = random_io(1, 2, 1, 8, gate=1.0)
    io.alloc_gate = torch.ones(1, 2, 1)  # everything goes to the allocated slot
    _, new, _, _ = bank(io, state)
    torch.testing.assert_close(new.keys[:, :, 7], torch.nn.functional.normalize(io.write_key[:, :, 0], dim=-1))
    torch.testing.assert_close(new.keys[:, :, :7], state.keys[:, :, :7])
    _, unchanged, _, _ = bank(random_io(1, 2, 1, 8, gate=0.0), state)
    torch.testing.assert_close(unchanged.keys, state.keys)


def test_zero_gate_never_allocates_and_leaves_memory(tiny_config):
    bank = MultiHeadMemoryBank(dataclasses.replace(tiny_config, decay=False)).eval()
    state = bank.initial_state(1, torch.device("cpu"))
    state.memory = torch.randn_like(state.memory)
    _, new, _, records = bank(random_io(1, 2, 8, 8, gate=0.0), state, record=True)
    torch.testing.assert_close(new.memory, state.memory)
    assert not new.live.any() and (new.age == 8).all()  # no age reset: nothing was written
    rec = MemoryRecorder()
    emit_records(rec, records, step_offset=0, write_floor=0.1)
    ops = set(rec.tables()["memory_events"].column("op").to_pylist())
    assert ops == {"read"}


def test_lru_overwrites_stalest_slot_and_records_eviction(tiny_config):
    cfg = dataclasses.replace(tiny_config, n_slots=4, top_k=1, chunk_size=1, window=8, n_heads=1, decay=False, usage_weight=0.0)
    bank = MultiHeadMemoryBank(cfg).eval()
    io = random_io(1, 1, 6, 8, gate=1.0)
    io.alloc_gate = torch.ones(1, 1, 6)
    io.erase = torch.ones(1, 1, 6, 8)  # full erase: an allocation replaces the old content
    state = bank.initial_state(1, torch.device("cpu"))
    state.age = torch.tensor([[[3.0, 2.0, 1.0, 0.0]]])  # slot 0 is the stalest
    _, new, _, records = bank(io, state, record=True)
    slots = torch.cat([r.alloc_idx for r in records], dim=2)[0, 0].tolist()
    assert slots == [0, 1, 2, 3, 0, 1]  # LRU order, then wrap around to the oldest content
    evicted = torch.cat([r.evicted for r in records], dim=2)[0, 0].tolist()
    assert evicted == [False, False, False, False, True, True]
    assert new.age[0, 0].tolist() == [1.0, 0.0, 3.0, 2.0]
    # with alloc gate 1 and gate 1 each allocation replaces the slot with the new value
    torch.testing.assert_close(new.memory[0, 0, 1], io.value[0, 0, 5])


def test_decay_kills_content_below_floor(tiny_config):
    cfg = dataclasses.replace(tiny_config, n_heads=1, decay_floor=0.5, decay_init=0.9)
    bank = MultiHeadMemoryBank(cfg).eval()
    state = bank.initial_state(1, torch.device("cpu"))
    state.live[:] = True
    _, new, _, records = bank(random_io(1, 1, 8, 8, gate=0.0), state, record=True)
    # 0.9 ** 4 = 0.656 after the first chunk, 0.43 < 0.5 after the second
    assert not records[0].decayed.any() and records[1].decayed.all()
    assert not new.live.any()
    torch.testing.assert_close(new.retention, torch.full_like(new.retention, 0.9**8), rtol=1e-5, atol=1e-6)


def test_reads_see_memory_of_previous_chunks_only(tiny_config):
    bank = MultiHeadMemoryBank(dataclasses.replace(tiny_config, decay=False)).eval()
    io = random_io(1, 2, 8, 8, gate=1.0)
    _, _, _, records = bank(io, bank.initial_state(1, torch.device("cpu")), record=True)
    fresh = bank(io.chunk(0, 4), bank.initial_state(1, torch.device("cpu")))[0]
    # the first chunk reads an empty memory: LayerNorm of zeros is the bias
    torch.testing.assert_close(fresh, bank.read_norm.bias.expand_as(fresh))


def test_recorded_events_follow_the_lifecycle_convention(tiny_config):
    cfg = dataclasses.replace(tiny_config, n_slots=4, top_k=1, chunk_size=1, window=8, n_heads=1, decay=False, usage_weight=0.0)
    bank = MultiHeadMemoryBank(cfg).eval()
    io = random_io(1, 1, 6, 8, gate=1.0)
    io.alloc_gate = torch.ones(1, 1, 6)
    state = bank.initial_state(1, torch.device("cpu"))
    state.age = torch.tensor([[[3.0, 2.0, 1.0, 0.0]]])
    _, _, _, records = bank(io, state, record=True)
    rec = MemoryRecorder()
    emit_records(rec, records, step_offset=100, write_floor=0.1)
    events = rec.tables()["memory_events"].to_pandas()
    writes = events[events.op == "write"].sort_values("step")
    assert writes.cell.tolist() == [0, 1, 2, 3, 0, 1] and writes.step.tolist() == list(range(100, 106))
    assert (writes.weight == 1.0).all() and (writes.gate == 1.0).all()
    evicts = events[events.op == "evict"]
    assert evicts.cell.tolist() == [0, 1] and evicts.step.tolist() == [104, 105]  # old content dies as the slot is reused
    reads = events[events.op == "read"]
    assert len(reads) == 6 and (reads.weight == 1.0).all()  # top-1: one read per token, weight 1
    states = rec.tables()["cell_states"].to_pandas()
    assert len(states) == 6 * 4 and states[states.step == 105].sort_values("cell").age.tolist() == [1.0, 0.0, 3.0, 2.0]
