"""Synthetic tasks: seeded, targets where the metadata says, forgetting variant, continual shift, bad input."""

from __future__ import annotations

import pytest
import torch

from engine.tasks import IGNORE, TASKS, TaskError, make_batch, make_task
from engine.tasks.recall import QUERY


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("name", list(TASKS))
def test_same_seed_same_batch(name):
    a, b = make_batch(name, 4, gen(3)), make_batch(name, 4, gen(3))
    assert torch.equal(a.inputs, b.inputs) and torch.equal(a.targets, b.targets)
    assert not torch.equal(a.inputs, make_batch(name, 4, gen(4)).inputs)
    assert a.inputs.max() < a.vocab_size and a.inputs.min() >= 0
    scored = a.targets != IGNORE
    assert scored.any() and (a.meta["distance"][scored] > 0).all() and (a.meta["distance"][~scored] == -1).all()


@pytest.mark.parametrize("d", [2, 17, 300])
def test_recall_distance_is_controlled_and_points_at_the_fact(d):
    task = make_task("recall", distance=d, n_facts=3)
    batch = task.make_batch(5, gen())
    rows, cols = torch.nonzero(batch.targets != IGNORE, as_tuple=True)
    dist = batch.meta["distance"][rows, cols]
    # the first query sits d after the last fact, so every fact is at least d back and at most 4 (F - 1) more
    assert dist.min().item() >= d and dist.max().item() <= d + 4 * 2
    # the token `distance` back is the value, preceded by the queried key
    assert torch.equal(batch.inputs[rows, cols - dist], batch.targets[rows, cols])
    assert torch.equal(batch.inputs[rows, cols - dist - 1], batch.inputs[rows, cols])
    assert (batch.inputs[rows, cols - 1] == QUERY).all()
    assert batch.inputs.shape[1] == task.lead + 4 * 3 + d - 2


def test_recall_training_distances_are_drawn_in_range():
    task = make_task("recall", min_distance=8, max_distance=64)
    g = gen()
    ds = {task.sample_distance(g) for _ in range(200)}
    assert min(ds) >= 8 and max(ds) <= 64 and len(ds) > 10


def test_mqar_targets_are_bound_values():
    batch = make_batch("mqar", 3, gen(), n_pairs=6)
    assert batch.inputs.shape == (3, 18)
    for row in range(3):
        pairs = dict(zip(batch.inputs[row, 0:12:2].tolist(), batch.inputs[row, 1:12:2].tolist()))
        for pos in range(12, 18):
            assert batch.targets[row, pos].item() == pairs[batch.inputs[row, pos].item()]


def test_forgetting_mqar_latest_binding_wins():
    batch = make_batch("mqar-forget", 4, gen(), n_pairs=6, rebind=3)
    n_bind = 9
    for row in range(4):
        latest = {}
        for i in range(n_bind):
            latest[batch.inputs[row, 2 * i].item()] = batch.inputs[row, 2 * i + 1].item()
        first = dict(zip(batch.inputs[row, 0:12:2].tolist(), batch.inputs[row, 1:12:2].tolist()))
        for pos in range(2 * n_bind, 2 * n_bind + 6):
            key = batch.inputs[row, pos].item()
            assert batch.targets[row, pos].item() == latest[key]
            assert batch.meta["rebound"][row, pos].item() == (latest[key] != first[key])
    assert batch.meta["rebound"].sum().item() == 4 * 3


def test_continual_tasks_shift_inputs_but_share_answers():
    a = make_batch("continual", 8, gen(), task_id=0)
    b = make_batch("continual", 8, gen(), task_id=2)
    assert a.vocab_size == b.vocab_size
    keys_a = set(a.inputs[a.targets != IGNORE].tolist())
    keys_b = set(b.inputs[b.targets != IGNORE].tolist())
    assert keys_a.isdisjoint(keys_b)
    assert set(a.targets[a.targets != IGNORE].tolist()) | set(b.targets[b.targets != IGNORE].tolist()) <= set(range(2, 18))
    assert b.inputs.shape[1] > a.inputs.shape[1]  # task 2 draws longer distances
    assert (a.meta["task_id"] == 0).all() and (b.meta["task_id"] == 2).all()


@pytest.mark.parametrize(
    "name, params, message",
    [
        ("nope", {}, "unknown task 'nope'"),
        ("recall", {"bogus": 1}, "unknown parameter"),
        ("recall", {"n_facts": 0}, "n_facts must be >= 1"),
        ("recall", {"min_distance": 10, "max_distance": 5}, "min_distance <= max_distance"),
        ("mqar", {"n_pairs": 100}, "must be <= n_keys"),
        ("continual", {"task_id": 9}, "task_id must be in"),
    ],
)
def test_bad_task_input_is_one_line(name, params, message):
    with pytest.raises(TaskError) as err:
        make_task(name, **params)
    assert message in str(err.value) and "\n" not in str(err.value)
