import torch

from engine.moment.bank import MomentBank

V = 20


def _write(bank, fired, step=0, token=None):
    B = len(fired)
    ids = torch.arange(3).repeat(B, 1) + torch.arange(B).unsqueeze(1) * 3
    probs = torch.tensor([[0.5, 0.3, 0.2]]).repeat(B, 1)
    token = torch.arange(B) if token is None else token
    z = torch.zeros(B)
    out = bank.write(torch.tensor(fired), ids, probs, token, torch.zeros(B, 3), z.long() + 2, z.long(), z.long(), step)
    bank.note_writes(B)
    return out


def test_only_fired_rows_are_stored_with_consecutive_ids():
    bank = MomentBank(8, 3, torch.device("cpu"), outcome_weight=0.5)
    ids = _write(bank, [True, False, True])
    assert ids.tolist() == [0, -1, 1]
    assert bank.sync() == 2
    assert bank.topk_ids[:2].tolist() == [[0, 1, 2], [6, 7, 8]]
    assert not bank.valid[2:].any()


def test_recall_distribution_mixes_outcome_token_with_weight_beta():
    bank = MomentBank(4, 3, torch.device("cpu"), outcome_weight=0.4)
    _write(bank, [True], token=torch.tensor([7]))
    assert bank.recall_ids[0].tolist() == [0, 1, 2, 7]
    assert torch.allclose(bank.recall_probs[0], torch.tensor([0.3, 0.18, 0.12, 0.4]))


def test_full_bank_drops_writes_instead_of_overwriting():
    bank = MomentBank(2, 3, torch.device("cpu"), outcome_weight=0.5)
    _write(bank, [True, True])
    ids = _write(bank, [True])
    assert ids.tolist() == [-1]
    assert bank.sync() == 2 and bank.valid[:2].all()


def test_search_compares_all_rows_at_once_and_respects_min_age():
    bank = MomentBank(8, 3, torch.device("cpu"), outcome_weight=0.5)
    _write(bank, [True, True], step=0)
    p = torch.zeros(1, V)
    p[0, [3, 4, 5]] = torch.tensor([0.5, 0.3, 0.2])  # equals the second moment
    div, slot = bank.search(p, "hellinger", step=10, min_age=5, n=2)
    assert slot[0].tolist() == [1, 0] and div[0, 0].item() < 1e-3
    div, slot = bank.search(p, "hellinger", step=3, min_age=5, n=2)
    assert torch.isinf(div).all() and (slot == bank.capacity).all()


def test_note_recall_counts_only_gated_rows():
    bank = MomentBank(4, 3, torch.device("cpu"), outcome_weight=0.5)
    _write(bank, [True, True])
    bank.note_recall(torch.tensor([1, 0]), torch.tensor([True, False]), step=9)
    assert bank.col("recalls")[:2].tolist() == [0, 1]
    assert bank.col("last_recall")[:2].tolist() == [-1, 9]


def test_compact_and_state_round_trip():
    bank = MomentBank(6, 3, torch.device("cpu"), outcome_weight=0.5)
    _write(bank, [True, True, True])
    bank.sync()
    bank.valid[1] = False
    bank.compact()
    assert bank.col("moment_id")[:2].tolist() == [0, 2] and bank.sync() == 2
    other = MomentBank(6, 3, torch.device("cpu"), outcome_weight=0.5)
    other.load_state(bank.state())
    assert torch.equal(other.topk_ids[:2], bank.topk_ids[:2]) and other.sync() == 2
    assert int(other.next_id) == 3
