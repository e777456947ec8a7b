import math

import pytest
import torch

from engine.moment.divergence import densify, hellinger_search, sparse_vs_dense, sparse_vs_sparse


def _dense_reference(q_dense, p, kind):
    if kind == "kl":
        m = q_dense > 0
        return (q_dense[m] * (q_dense[m].log() - p[m].log())).sum()
    if kind == "hellinger":
        return (1 - (q_dense * p).sqrt().sum()).clamp_min(0).sqrt()
    mix = 0.5 * (q_dense + p)
    kl = lambda a, b: (a[a > 0] * (a[a > 0].log() - b[a > 0].log())).sum()  # noqa: E731
    return 0.5 * kl(q_dense, mix) + 0.5 * kl(p, mix)


def test_sparse_divergences_equal_dense_definitions():
    torch.manual_seed(1)
    V, M, k = 50, 7, 5
    p = torch.randn(3, V).softmax(-1).double()
    ids = torch.stack([torch.randperm(V)[:k] for _ in range(M)])
    q = torch.rand(M, k).double()
    q = q / q.sum(-1, keepdim=True)
    for kind in ("kl", "js", "hellinger"):
        got = sparse_vs_dense(ids, q, p, kind)
        assert got.shape == (3, M)
        for b in range(3):
            for m in range(M):
                ref = _dense_reference(densify(ids[m : m + 1], q[m : m + 1], V)[0].double(), p[b], kind)
                assert math.isclose(got[b, m].item(), ref.item(), rel_tol=1e-4, abs_tol=1e-5), (kind, b, m)


def test_identical_distributions_have_zero_divergence():
    p = torch.tensor([[0.5, 0.3, 0.2, 0.0]])
    ids = torch.tensor([[0, 1, 2]])
    q = torch.tensor([[0.5, 0.3, 0.2]])
    for kind in ("kl", "js", "hellinger"):
        assert sparse_vs_dense(ids, q, p, kind).abs().max().item() < 1e-3


def test_sparse_vs_sparse_hellinger_is_symmetric():
    a_ids, a_q = torch.tensor([[0, 1]]), torch.tensor([[0.7, 0.3]])
    b_ids, b_q = torch.tensor([[1, 2]]), torch.tensor([[0.5, 0.5]])
    ab = sparse_vs_sparse(a_ids, a_q, b_ids, b_q, 4)
    ba = sparse_vs_sparse(b_ids, b_q, a_ids, a_q, 4)
    assert torch.allclose(ab, ba.T)
    assert math.isclose(ab.item(), math.sqrt(1 - math.sqrt(0.3 * 0.5)), rel_tol=1e-5)


def test_fast_search_finds_the_same_best_moment_as_the_plain_path():
    torch.manual_seed(2)
    V, M, k = 300, 2000, 16
    ids = torch.randint(0, V, (M, k))
    q = torch.rand(M, k).softmax(-1)
    p = torch.randn(2, V).mul(3).softmax(-1)
    plain = sparse_vs_dense(ids, q, p, "hellinger")
    dist, idx = hellinger_search(ids.int(), q.sqrt().half(), p, n=3)
    ref_dist, ref_idx = torch.topk(plain, 3, dim=-1, largest=False)
    assert torch.equal(idx, ref_idx)
    assert torch.allclose(dist, ref_dist, atol=2e-3)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_triton_search_kernel_matches_the_plain_path():
    from engine.moment.search_kernel import triton_hellinger_search

    torch.manual_seed(3)
    V, M, k = 1000, 5000, 32
    ids = torch.randint(0, V, (M, k), device="cuda")
    q = torch.rand(M, k, device="cuda").softmax(-1)
    p = torch.randn(3, V, device="cuda").mul(3).softmax(-1)
    dist, idx = triton_hellinger_search(ids.int(), q.sqrt().half(), p)
    ref_dist, ref_idx = torch.topk(sparse_vs_dense(ids, q, p, "hellinger"), 1, dim=-1, largest=False)
    assert torch.equal(idx, ref_idx)
    assert torch.allclose(dist, ref_dist, atol=2e-3)
