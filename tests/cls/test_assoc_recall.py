"""The associative-recall task (Ba et al. 2016 layout)."""

import pytest
import torch

from engine.tasks import IGNORE, TaskError, make_task


def test_layout_and_target():
    task = make_task("assoc-recall", n_pairs=3, n_keys=5, n_values=4)
    batch = task.make_batch(16, torch.Generator().manual_seed(0))
    x, y = batch.inputs, batch.targets
    assert x.shape == (16, 9) and batch.vocab_size == 2 + 5 + 4
    assert (x[:, 6:8] == 1).all()
    keys, values = x[:, 0:6:2], x[:, 1:6:2]
    assert ((keys >= 2) & (keys < 7)).all() and ((values >= 7) & (values < 11)).all()
    assert all(len(set(row.tolist())) == 3 for row in keys)  # distinct keys
    assert (y[:, :-1] == IGNORE).all()
    for row in range(16):
        pair = (keys[row] == x[row, -1]).nonzero().item()
        assert y[row, -1] == values[row, pair]
        assert batch.meta["distance"][row, -1] == 8 - (2 * pair + 1)


def test_seeded_and_refuses_bad_parameters():
    a = make_task("assoc-recall").make_batch(4, torch.Generator().manual_seed(5))
    b = make_task("assoc-recall").make_batch(4, torch.Generator().manual_seed(5))
    assert torch.equal(a.inputs, b.inputs) and a.inputs.shape == (4, 19)
    with pytest.raises(TaskError, match="n_pairs"):
        make_task("assoc-recall", n_pairs=60, n_keys=50)


def test_variable_number_of_pairs():
    task = make_task("assoc-recall", n_pairs=4, max_pairs=9, n_keys=12)
    g = torch.Generator().manual_seed(0)
    lengths = {task.make_batch(2, g).inputs.shape[1] for _ in range(40)}
    assert lengths <= {2 * r + 3 for r in range(4, 10)} and len(lengths) > 3
    with pytest.raises(TaskError, match="max_pairs"):
        make_task("assoc-recall", n_pairs=4, max_pairs=3)


def test_several_queries_each_scored():
    batch = make_task("assoc-recall", n_pairs=5, n_keys=8, n_queries=3).make_batch(4, torch.Generator().manual_seed(1))
    assert batch.inputs.shape == (4, 15) and ((batch.targets != IGNORE).sum(1) == 3).all()
    for row in range(4):
        asked = batch.inputs[row, 12:]
        assert len(set(asked.tolist())) == 3
        for j, key in enumerate(asked.tolist()):
            pair = batch.inputs[row, 0:10:2].tolist().index(key)
            assert batch.targets[row, 12 + j] == batch.inputs[row, 2 * pair + 1]
            assert batch.meta["distance"][row, 12 + j] == 12 + j - (2 * pair + 1)
