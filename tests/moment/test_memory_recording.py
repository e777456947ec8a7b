"""MomentMemory end to end on hand-made distributions, checked through what the recorder got."""

import math

import numpy as np
import torch

from engine.moment.config import MomentConfig
from engine.moment.memory import MomentMemory
from tracing.recorder import MemoryRecorder

V = 16


def _peaked(token: int, mass: float = 0.9) -> torch.Tensor:
    p = torch.full((1, V), (1 - mass) / (V - 1))
    p[0, token] = mass
    return p.log()


def _run(memory, sequence):
    """sequence: list of (logits (1, V), chosen token); returns the scores of each propose."""
    scores = []
    ctx = torch.zeros(1, 1, dtype=torch.long)
    for logits, token in sequence:
        scores.append(memory.propose(logits, ctx))
        memory.commit(torch.tensor([token]))
        ctx = torch.cat([ctx, torch.tensor([[token]])], 1)
    memory.finish()
    return scores


def _memory(**kwargs):
    cfg = dict(threshold_mode="fixed", triggers=("surprisal",), k=4, capacity=32, min_age=2, flush_every=4,
               resonance_threshold=0.3, lam=0.5, outcome_weight=1.0, merge_eps=0.0)
    cfg.update(kwargs)
    rec = MemoryRecorder()
    return MomentMemory(V, "cpu", MomentConfig(**cfg), recorder=rec), rec


def test_surprise_is_stored_and_recalled_with_mixing_by_lambda():
    memory, rec = _memory()
    # the model expects token 3 but token 9 follows: surprisal -log(0.1/15) = 5.0 > 4
    memory.detector.fixed_thresholds[0] = 4.0
    filler = [(_peaked(5), 5)] * 3
    scores = _run(memory, [(_peaked(3), 9)] + filler + [(_peaked(3), 9)])
    tables = rec.tables()
    moments = tables["moments"].to_pandas()
    # surprisal is read from the model's own distribution, so the recurrence is stored again (no merging here)
    assert moments.moment_id.tolist() == [0, 1] and moments.trigger.tolist() == ["surprisal"] * 2
    assert math.isclose(moments.surprisal[0], -math.log(0.1 / 15), rel_tol=1e-5)
    events = tables["memory_events"].to_pandas()
    writes = events[events.op == "write"]
    assert writes.cell.tolist() == [0, 1] and writes.step.tolist() == [0, 4]
    res = events[events.op == "resonance"]
    assert res.step.tolist() == [4] and res.cell.tolist() == [0]
    e = 0.1 / 15  # top-4 of p = [0.9, e, e, e], renormalised into q: Hellinger(q, p) by hand
    q = np.array([0.9, e, e, e]) / (0.9 + 3 * e)
    hellinger = math.sqrt(1 - float(np.sum(np.sqrt(q * np.array([0.9, e, e, e])))))
    assert math.isclose(res.gate.iloc[0], 0.5, rel_tol=1e-6) and math.isclose(res.weight.iloc[0], hellinger, rel_tol=1e-3)
    # p' = (1 - lambda) p + lambda * onehot(9) (outcome_weight 1): p'(9) = 0.5 * 0.1/15 + 0.5
    mixed = torch.log_softmax(scores[-1], -1)
    assert math.isclose(mixed[0, 9].exp().item(), 0.5 * 0.1 / 15 + 0.5, rel_tol=1e-4)
    dlogp = tables["metrics"].to_pandas()
    assert dlogp.name.tolist() == ["resonance_dlogp"]
    assert math.isclose(dlogp.value[0], math.log(0.5 * 0.1 / 15 + 0.5) - math.log(0.1 / 15), rel_tol=1e-4)
    steps = tables["steps"].to_pandas()
    assert steps.step.tolist() == [0, 1, 2, 3, 4] and steps.token_id.tolist() == [9, 5, 5, 5, 9]


def test_no_resonance_leaves_scores_bit_identical():
    memory, _ = _memory()
    logits = torch.randn(1, V)
    out = memory.propose(logits, torch.zeros(1, 1, dtype=torch.long))
    assert torch.equal(out, logits)


def test_merge_and_prune_are_recorded_with_lifecycle_ops():
    memory, rec = _memory(merge_eps=0.05, prune_age=6, min_age=100)
    memory.detector.fixed_thresholds[0] = 4.0
    seq = [(_peaked(3), 9), (_peaked(3), 9), (_peaked(7), 1)] + [(_peaked(5), 5)] * 9
    _run(memory, seq)
    events = rec.tables()["memory_events"].to_pandas()
    merge = events[events.op == "merge"]
    assert merge.cell.tolist() == [1] and merge.other_cell.tolist() == [0]
    pruned = set(events[events.op == "prune"].cell)
    assert pruned == {0, 2}  # never recalled, older than prune_age
    births = events[events.op == "write"].cell.tolist()
    assert births == [0, 1, 2]
    assert memory.size == 0


def test_pin_stores_an_unsurprising_boundary():
    memory, rec = _memory()
    memory.pin()
    _run(memory, [(_peaked(5), 5), (_peaked(5), 5)])
    moments = rec.tables()["moments"].to_pandas()
    assert moments.trigger.tolist() == ["pinned"] and moments.step.tolist() == [0]


def test_live_cell_ages_are_recorded_at_finish():
    memory, rec = _memory()
    memory.pin()
    _run(memory, [(_peaked(5), 5)] * 3)
    states = rec.tables()["cell_states"].to_pandas()
    # born at step 0, recalled once at step 2 (min_age 2, same distribution), 3 boundaries at finish
    assert states.cell.tolist() == [0] and states.age.tolist() == [3.0] and states.usage.tolist() == [1.0]


def test_batch_rows_are_independent_and_all_recorded():
    memory = MomentMemory(V, "cpu", MomentConfig(threshold_mode="fixed", triggers=("surprisal",), k=4, capacity=8, flush_every=2,
                                                 fixed={"surprisal": 4.0}), recorder=(rec := MemoryRecorder()), batch_size=2)
    logits = torch.cat([_peaked(3), _peaked(3)])
    memory.propose(logits, torch.zeros(2, 1, dtype=torch.long))
    memory.commit(torch.tensor([3, 9]))  # only row 1 is surprised
    memory.finish()
    moments = rec.tables()["moments"].to_pandas()
    assert moments.batch.tolist() == [1]
    steps = rec.tables()["steps"].to_pandas()
    assert sorted(steps.batch.tolist()) == [0, 1] and np.all(steps.step == 0)
