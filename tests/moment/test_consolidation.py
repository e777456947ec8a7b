import torch

from engine.moment.bank import MomentBank
from engine.moment.consolidation import consolidate, merge_near_duplicates, prune


def _bank(rows):
    """rows: list of (ids, probs, token, step)."""
    bank = MomentBank(8, 3, torch.device("cpu"), outcome_weight=0.5)
    for ids, probs, token, step in rows:
        z = torch.zeros(1, dtype=torch.long)
        bank.write(torch.tensor([True]), torch.tensor([ids]), torch.tensor([probs]), torch.tensor([token]), torch.zeros(1, 3), z + 2, z, z, step)
        bank.note_writes(1)
    bank.sync()
    return bank


def test_near_duplicates_with_the_same_outcome_merge_into_the_older():
    bank = _bank([([0, 1, 2], [0.5, 0.3, 0.2], 5, 0), ([0, 1, 2], [0.5, 0.29, 0.21], 5, 3), ([0, 1, 2], [0.5, 0.3, 0.2], 6, 4),
                  ([7, 8, 9], [0.5, 0.3, 0.2], 5, 5)])
    bank.col("recalls")[1] = 2
    pairs = merge_near_duplicates(bank, torch.tensor([1, 2, 3]), eps=0.05, vocab_size=10)
    assert pairs == [(1, 0)]  # row 2 has another outcome token, row 3 another distribution
    assert bank.valid[:4].tolist() == [True, False, True, True]
    assert bank.col("recalls")[0].item() == 2 and bank.col("merged")[0].item() == 1


def test_prune_removes_old_never_recalled_moments_only():
    bank = _bank([([0, 1, 2], [0.5, 0.3, 0.2], 1, 0), ([3, 4, 5], [0.5, 0.3, 0.2], 1, 0), ([6, 7, 8], [0.5, 0.3, 0.2], 1, 90)])
    bank.col("recalls")[1] = 1
    ids, ages = prune(bank, step=100, max_age=50, need_free=0)
    assert ids == [0] and ages == [100]


def test_prune_at_capacity_frees_the_least_valuable_first():
    bank = _bank([([i, i + 1, i + 2], [0.5, 0.3, 0.2], 1, i) for i in range(8)])
    bank.col("recalls")[0] = 3
    bank.col("last_recall")[0] = 7
    ids, _ = prune(bank, step=10, max_age=1000, need_free=3)
    assert ids == [1, 2, 3]  # never recalled, oldest first; the recalled moment 0 survives


def test_consolidate_compacts_so_writes_append_again():
    bank = _bank([([0, 1, 2], [0.5, 0.3, 0.2], 1, 0), ([0, 1, 2], [0.5, 0.3, 0.2], 1, 1)])
    result = consolidate(bank, torch.tensor([1]), step=2, eps=0.05, max_age=1000, need_free=0, vocab_size=10)
    assert result.merged == [(1, 0)] and bank.sync() == 1
    assert bank.col("moment_id")[0].item() == 0
