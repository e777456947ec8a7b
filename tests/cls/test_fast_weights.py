"""Fast weights: hand-computed Hebbian and delta writes; step-by-step equals chunked (parallel)."""

import pytest
import torch

from engine.cls.fast_weights import delta_write, fast_weight_chunked, fast_weight_history, fast_weight_recurrent, hebbian_write


def _one(x):
    return torch.tensor(x, dtype=torch.float64).view(1, 1, *torch.tensor(x).shape)


def test_hebbian_two_writes_by_hand():
    # k1 = e1, v1 = (1, 2); k2 = e2, v2 = (3, 4); beta = 0.5 each; F = 0.5 (e1 v1^T + e2 v2^T)
    k = _one([[1.0, 0.0], [0.0, 1.0]])
    v = _one([[1.0, 2.0], [3.0, 4.0]])
    q = _one([[1.0, 0.0], [1.0, 1.0]])
    beta = torch.full((1, 1, 2), 0.5, dtype=torch.float64)
    out = fast_weight_recurrent(q, k, v, beta, "hebbian")
    assert torch.allclose(out.state[0, 0], torch.tensor([[0.5, 1.0], [1.5, 2.0]], dtype=torch.float64))
    # r_1 = F_1^T e1 = 0.5 v1; r_2 = F_2^T (e1 + e2) = 0.5 (v1 + v2)
    assert torch.allclose(out.read[0, 0], torch.tensor([[0.5, 1.0], [2.0, 3.0]], dtype=torch.float64))


def test_delta_rule_writes_the_error_by_hand():
    # same key twice: the delta rule moves F^T k toward the new value, Hebbian adds up
    k = _one([[1.0, 0.0], [1.0, 0.0]])
    v = _one([[2.0, 0.0], [0.0, 2.0]])
    beta = torch.ones(1, 1, 2, dtype=torch.float64)
    delta = fast_weight_recurrent(k, k, v, beta, "delta")
    hebb = fast_weight_recurrent(k, k, v, beta, "hebbian")
    # delta: u1 = v1 = (2, 0); u2 = v2 - F1^T k = (0, 2) - (2, 0) = (-2, 2); F^T k = v2 exactly
    assert torch.allclose(delta.writes[0, 0, :, 0], torch.tensor([[2.0, 0.0], [-2.0, 2.0]], dtype=torch.float64))
    assert torch.allclose(delta.read[0, 0, 1], torch.tensor([0.0, 2.0], dtype=torch.float64))
    assert torch.allclose(hebb.read[0, 0, 1], torch.tensor([2.0, 2.0], dtype=torch.float64))


def test_write_functions_by_hand():
    F = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    k, v, beta = torch.tensor([1.0, 1.0]), torch.tensor([10.0, 10.0]), torch.tensor(0.5)
    assert torch.allclose(hebbian_write(v, beta), torch.tensor([5.0, 5.0]))
    # F^T k = (4, 6): u = 0.5 * ((10, 10) - (4, 6)) = (3, 2)
    assert torch.allclose(delta_write(F, k, v, beta), torch.tensor([3.0, 2.0]))


@pytest.mark.parametrize("rule", ["hebbian", "delta"])
@pytest.mark.parametrize("chunk", [1, 3, 7, 64])
def test_chunked_equals_step_by_step(rule, chunk):
    g = torch.Generator().manual_seed(1)
    B, H, T, d = 2, 3, 17, 8
    q, k = (torch.nn.functional.normalize(torch.randn(B, H, T, d, generator=g, dtype=torch.float64), dim=-1) for _ in range(2))
    v = torch.randn(B, H, T, d, generator=g, dtype=torch.float64)
    beta = torch.rand(B, H, T, generator=g, dtype=torch.float64)
    F0 = torch.randn(B, H, d, d, generator=g, dtype=torch.float64) * 0.1
    ref = fast_weight_recurrent(q, k, v, beta, rule, F0)
    par = fast_weight_chunked(q, k, v, beta, rule, chunk, F0)
    assert torch.allclose(par.read, ref.read, atol=1e-10)
    assert torch.allclose(par.writes, ref.writes, atol=1e-10)
    assert torch.allclose(par.state, ref.state, atol=1e-10)
    # the history (tracing) reproduces every F_t: the last one is the final state
    assert torch.allclose(fast_weight_history(F0, par.keys, par.writes)[:, :, -1], ref.state, atol=1e-10)


def test_hyper_writes_equal_explicit_sum_of_updates():
    g = torch.Generator().manual_seed(2)
    B, H, T, r, d = 1, 2, 9, 3, 4
    q = torch.randn(B, H, T, d, generator=g, dtype=torch.float64)
    a = torch.randn(B, H, T, r, d, generator=g, dtype=torch.float64)
    b = torch.randn(B, H, T, r, d, generator=g, dtype=torch.float64)
    out = fast_weight_chunked(q, a, None, None, "hyper", 4, None, writes=b)
    F = torch.zeros(B, H, d, d, dtype=torch.float64)
    for t in range(T):
        F = F + a[:, :, t].transpose(-1, -2) @ b[:, :, t]  # Delta F_t = sum_j a_j b_j^T
        assert torch.allclose(out.read[:, :, t], torch.einsum("bhkv,bhk->bhv", F, q[:, :, t]), atol=1e-10)
    assert torch.allclose(out.state, F, atol=1e-10)


def test_delta_rule_stores_associations_without_crosstalk():
    """R = 12 random unit keys in d_k = 16 dims: delta sweeps converge to exact recall of every value,
    the Hebbian matrix keeps the crosstalk of non-orthogonal keys."""
    g = torch.Generator().manual_seed(3)
    d, R = 16, 12
    k = torch.nn.functional.normalize(torch.randn(1, 1, R, d, generator=g, dtype=torch.float64), dim=-1)
    v = torch.randn(1, 1, R, d, generator=g, dtype=torch.float64)
    beta = torch.ones(1, 1, R, dtype=torch.float64)

    def recall_error(rule, sweeps):
        F0 = None
        for _ in range(sweeps):
            F0 = fast_weight_chunked(k, k, v, beta, rule, R, F0).state
        recalled = torch.einsum("kv,rk->rv", F0[0, 0], k[0, 0])
        return (recalled - v[0, 0]).norm(dim=-1).mean().item()

    assert recall_error("delta", 200) < 1e-3
    assert recall_error("hebbian", 1) > 0.3


def test_hypernetwork_update_is_the_sum_of_its_rank_one_writes():
    from engine.cls.hypernetwork import HyperUpdate

    torch.manual_seed(0)
    hyper = HyperUpdate(d_model=8, n_heads=2, head_dim=4, rank=3)
    h = torch.randn(1, 5, 8)
    scale = torch.rand(1, 2, 5)
    a, b = hyper(h)
    assert torch.allclose(a.norm(dim=-1), torch.ones(1, 2, 5, 3))  # unit keys
    q = torch.randn(1, 2, 5, 4)
    out = fast_weight_chunked(q, a, None, None, "hyper", 2, None, writes=scale[..., None, None] * b)
    assert torch.allclose(out.state, hyper.delta(h, scale).sum(2), atol=1e-6)  # F_T = sum_t Delta F_t
