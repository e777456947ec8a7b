"""Each slot-memory mechanism against hand-computed values (in the style of DNC's addressing_test.py)."""

from __future__ import annotations

import math

import torch

from engine.memnet import addressing, allocation, losses, update

# shapes: (B=1, H=1, ...) unless said otherwise


def test_cosine_similarity_by_hand():
    keys = torch.tensor([[[[1.0, 0.0]]]])  # (1, 1, Q=1, D=2)
    memory = torch.tensor([[[[1.0, 0.0], [0.0, 2.0], [1.0, 1.0], [0.0, 0.0], [-3.0, 0.0]]]])  # N=5
    sim = addressing.cosine_similarity(keys, memory)
    assert sim.shape == (1, 1, 1, 5)
    torch.testing.assert_close(sim[0, 0, 0], torch.tensor([1.0, 0.0, 1 / math.sqrt(2), 0.0, -1.0]))


def test_topk_softmax_keeps_k_and_normalises():
    idx, w = addressing.topk_softmax(torch.tensor([1.0, 3.0, 2.0, 0.0]), 2)
    assert idx.tolist() == [1, 2]
    e = math.e
    torch.testing.assert_close(w, torch.tensor([e / (e + 1), 1 / (e + 1)]))


def test_sparse_read_is_weighted_sum_of_addressed_slots():
    memory = torch.tensor([[[[1.0, 0.0], [0.0, 1.0], [5.0, 5.0]]]])
    idx = torch.tensor([[[[0, 1]]]])
    w = torch.tensor([[[[0.25, 0.75]]]])
    torch.testing.assert_close(addressing.sparse_read(memory, idx, w), torch.tensor([[[[0.25, 0.75]]]]))


def test_address_sharpens_with_strength():
    memory = torch.tensor([[[[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]]])
    key = torch.tensor([[[[1.0, 0.0]]]])
    idx, w = addressing.address(key, torch.tensor([[[2.0]]]), memory, 2)
    assert idx[0, 0, 0].tolist() == [0, 1]
    expected = torch.softmax(torch.tensor([2.0, 2 / math.sqrt(2)]), dim=0)
    torch.testing.assert_close(w[0, 0, 0], expected)


def test_staleness_and_allocation_pick_oldest_least_used():
    age = torch.tensor([[[5.0, 1.0, 3.0, 7.0]]])
    usage = torch.tensor([[[0.0, 0.0, 4.0, 3.0]]])
    score = allocation.staleness(age, usage, usage_weight=1.0)
    torch.testing.assert_close(score, torch.tensor([[[5.0, 1.0, -1.0, 4.0]]]))
    assert allocation.allocate(score, 2).tolist() == [[[0, 3]]]
    noisy = allocation.staleness(age, usage, 1.0, noise=torch.tensor([[[0.0, 0.0, 0.0, 2.0]]]))
    assert allocation.allocate(noisy, 1).tolist() == [[[3]]]


def test_age_noise_is_uniform_in_range_and_breaks_ties():
    torch.manual_seed(0)
    noise = allocation.age_noise(torch.Size([2, 3, 1000]), 0.5, torch.device("cpu"))
    assert noise.min() >= 0 and noise.max() < 0.5
    picks = allocation.allocate(allocation.staleness(torch.zeros(2, 3, 1000), torch.zeros(2, 3, 1000), 1.0, noise), 1)
    assert len(set(picks.flatten().tolist())) > 1  # equal ages no longer all pick slot 0


def test_write_weights_split_gate_between_allocation_and_update():
    a, u = update.write_weights(torch.tensor([[[0.5]]]), torch.tensor([[[0.6]]]), torch.tensor([[[[0.7, 0.3]]]]))
    torch.testing.assert_close(a, torch.tensor([[[0.3]]]))
    torch.testing.assert_close(u, torch.tensor([[[[0.14, 0.06]]]]))


def test_erase_and_add_residual_update_by_hand():
    memory = torch.tensor([[[[2.0, 4.0], [1.0, 1.0]]]])
    idx = torch.tensor([[[0]]])
    out = update.erase_and_add(memory, idx, torch.tensor([[[0.5]]]), torch.tensor([[[[1.0, 0.5]]]]), torch.tensor([[[[10.0, 0.0]]]]))
    # slot 0: [2, 4] * (1 - [0.5, 0.25]) + 0.5 * [10, 0] = [6, 3]; slot 1 untouched
    torch.testing.assert_close(out, torch.tensor([[[[6.0, 3.0], [1.0, 1.0]]]]))


def test_erase_accumulates_and_clamps_at_one():
    memory = torch.tensor([[[[2.0, 2.0]]]])
    idx = torch.tensor([[[0, 0]]])
    w = torch.tensor([[[0.8, 0.8]]])
    out = update.erase_and_add(memory, idx, w, torch.ones(1, 1, 2, 2), torch.zeros(1, 1, 2, 2))
    torch.testing.assert_close(out, torch.zeros(1, 1, 1, 2))  # 1.6 erase clamps to 1


def test_write_keys_blend_unit_write_keys_by_hand():
    keys = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]])
    # one token, per_token=2 writes: 0.5 to slot 0 and 0.25 to slot 1; its write key [3, 4] has unit [0.6, 0.8]
    idx, w = torch.tensor([[[0, 1]]]), torch.tensor([[[0.5, 0.25]]])
    out = update.write_keys(keys, idx, w, torch.tensor([[[[3.0, 4.0]]]]), per_token=2)
    # slot 0: [1, 0] * 0.5 + 0.5 * [0.6, 0.8] = [0.8, 0.4]; slot 1: [0, 1] * 0.75 + 0.25 * [0.6, 0.8] = [0.15, 0.95]
    torch.testing.assert_close(out, torch.tensor([[[[0.8, 0.4], [0.15, 0.95]]]]))


def test_zero_gate_writes_nothing():
    memory = torch.randn(1, 1, 3, 2)
    a, u = update.write_weights(torch.zeros(1, 1, 1), torch.full((1, 1, 1), 0.5), torch.full((1, 1, 1, 2), 0.5))
    idx = torch.tensor([[[2, 0, 1]]])
    out = update.erase_and_add(memory, idx, torch.cat([a.unsqueeze(-1), u], -1).reshape(1, 1, -1), torch.ones(1, 1, 3, 2), torch.ones(1, 1, 3, 2))
    torch.testing.assert_close(out, memory)


def test_decay_is_slotwise_power_of_retention():
    memory = torch.ones(1, 2, 2, 3)
    retention = torch.tensor([[0.5, 1.0], [0.9, 0.1]])
    out = update.decay(memory, retention, steps=2)
    torch.testing.assert_close(out[0, :, :, 0], torch.tensor([[0.25, 1.0], [0.81, 0.01]]))


def test_usage_and_age_buffers():
    mass = update.scatter_mass(4, torch.tensor([[[[1, 3], [1, 0]]]]), torch.tensor([[[[0.5, 0.5], [0.25, 0.75]]]]))
    torch.testing.assert_close(mass, torch.tensor([[[0.75, 0.75, 0.0, 0.5]]]))
    usage = update.update_usage(torch.tensor([[[1.0, 2.0, 0.0, 0.0]]]), mass, torch.tensor([[[0.0, 0.0, 1.0, 0.0]]]), 0.5)
    torch.testing.assert_close(usage, torch.tensor([[[1.25, 1.75, 1.0, 0.5]]]))
    age = update.update_age(torch.tensor([[[3.0, 4.0]]]), torch.tensor([[[True, False]]]), steps=16)
    torch.testing.assert_close(age, torch.tensor([[[0.0, 20.0]]]))


def test_lifetimes_decay_below_floor_and_rebirth():
    live = torch.tensor([[[True, True, False]]])
    retention = torch.tensor([[[0.02, 0.5, 1.0]]])
    written = torch.tensor([[[False, False, True]]])
    new_live, kept, decayed = update.update_lifetimes(live, retention, written, torch.tensor([[0.25, 0.5, 0.5]]), floor=0.01)
    assert decayed.tolist() == [[[True, False, False]]]  # 0.02 * 0.25 = 0.005 < 0.01
    assert new_live.tolist() == [[[False, True, True]]]
    torch.testing.assert_close(kept, torch.tensor([[[0.005, 0.25, 1.0]]]))


def test_losses_by_hand():
    assert abs(losses.utilisation_loss(torch.ones(8)).item()) < 1e-6  # uniform use: no penalty
    assert abs(losses.utilisation_loss(torch.tensor([1.0, 0, 0, 0])).item() - 1.0) < 1e-5  # collapse: 1
    half = losses.utilisation_loss(torch.tensor([1.0, 1.0, 0.0, 0.0])).item()
    assert abs(half - (1 - math.log(2) / math.log(4))) < 1e-5
    torch.testing.assert_close(losses.read_entropy(torch.tensor([[0.5, 0.5], [1.0, 0.0]])), torch.tensor([math.log(2), 0.0]))
    torch.testing.assert_close(losses.memory_pressure(torch.tensor([0.0, 0.5, 1.0])), torch.tensor(0.5))


def test_hard_writes_drop_weights_under_the_floor():
    a, u = update.write_weights(torch.tensor([[[0.5, 0.1]]]), torch.tensor([[[0.6, 0.5]]]), torch.tensor([[[[0.7, 0.3], [0.5, 0.5]]]]), floor=0.1)
    # token 0: a = 0.3 kept, u = [0.14, 0.06] -> [0.14, 0]; token 1: a = 0.05 and u = [0.025, 0.025] all dropped
    torch.testing.assert_close(a, torch.tensor([[[0.3, 0.0]]]))
    torch.testing.assert_close(u, torch.tensor([[[[0.14, 0.0], [0.0, 0.0]]]]))
