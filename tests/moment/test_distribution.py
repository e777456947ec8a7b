import math

import torch

from engine.moment.distribution import entropy, kl_divergence, log_probs, surprisal, top_k, topk_shift


def test_entropy_of_uniform_and_point_mass():
    logp = log_probs(torch.tensor([[0.0, 0.0, 0.0, 0.0], [100.0, 0.0, 0.0, 0.0]]))
    h = entropy(logp)
    assert math.isclose(h[0].item(), math.log(4), rel_tol=1e-6)
    assert h[1].item() < 1e-6


def test_surprisal_is_minus_log_prob_of_the_chosen_token():
    p = torch.tensor([[0.5, 0.25, 0.25]])
    assert math.isclose(surprisal(p.log(), torch.tensor([1])).item(), math.log(4), rel_tol=1e-6)


def test_kl_against_hand_computed_value():
    p = torch.tensor([[0.5, 0.5]])
    q = torch.tensor([[0.9, 0.1]])
    expected = 0.5 * math.log(0.5 / 0.9) + 0.5 * math.log(0.5 / 0.1)
    assert math.isclose(kl_divergence(p.log(), q.log()).item(), expected, rel_tol=1e-5)
    assert kl_divergence(p.log(), p.log()).item() == 0.0


def test_kl_stays_finite_with_masked_logits():
    logits = torch.tensor([[0.0, float("-inf"), 1.0]])
    prev = torch.tensor([[0.0, 1.0, float("-inf")]])
    assert torch.isfinite(kl_divergence(log_probs(logits), log_probs(prev))).all()


def test_top_k_and_shift():
    logp = torch.tensor([[0.1, 0.4, 0.3, 0.2]]).log()
    ids, probs = top_k(logp, 2)
    assert ids.tolist() == [[1, 2]] and torch.allclose(probs, torch.tensor([[0.4, 0.3]]))
    assert topk_shift(torch.tensor([[1, 2]]), torch.tensor([[2, 1]])).item() == 0.0
    assert topk_shift(torch.tensor([[1, 2]]), torch.tensor([[2, 3]])).item() == 0.5
    assert topk_shift(torch.tensor([[1, 2]]), torch.tensor([[4, 3]])).item() == 1.0
