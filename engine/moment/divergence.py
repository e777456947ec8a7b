"""Divergences between stored sparse signatures and current dense distributions, batched.

A stored signature is a renormalised top-k distribution ``q`` (zero outside its ``k`` ids), so
KL(q || p), Jensen-Shannon and Hellinger against a full ``p`` are *exact* from ``p`` gathered at
the stored ids: one gather of ``(B, M, k)`` and a reduction, for all ``M`` moments at once.

- KL:  ``sum_i q_i (log q_i - log p_i)``
- JS:  ``1/2 sum_i [q_i log(q_i/m_i) + p_i log(p_i/m_i)] + 1/2 (1 - sum_i p_i) log 2``, ``m = (p+q)/2``
  (outside the support ``q = 0`` and each remaining ``p_j`` contributes ``p_j log 2``)
- Hellinger: ``sqrt(1 - sum_i sqrt(q_i p_i))``
"""

from __future__ import annotations

import math

import torch

DIVERGENCES = ("hellinger", "js", "kl")


def sparse_vs_dense(ids: torch.Tensor, q: torch.Tensor, p: torch.Tensor, kind: str, logp: torch.Tensor | None = None) -> torch.Tensor:
    """Divergence of every stored ``(ids (M, k), q (M, k))`` from every ``p (B, V)``: ``(B, M)``.

    ``logp (B, V)`` (optional) avoids recomputing ``log p`` for KL.
    """
    if kind == "hellinger":
        bc = (p.sqrt()[:, ids] * q.sqrt()).sum(-1)
        return (1.0 - bc).clamp_min(0.0).sqrt()
    if kind == "kl":
        logp = p.clamp_min(1e-30).log() if logp is None else logp
        return (torch.special.xlogy(q, q) - q * logp[:, ids]).sum(-1).clamp_min(0.0)
    if kind == "js":
        pg = p[:, ids]
        m = 0.5 * (pg + q)
        inside = torch.special.xlogy(q, q) - torch.special.xlogy(q, m) + torch.special.xlogy(pg, pg) - torch.special.xlogy(pg, m)
        outside = (1.0 - pg.sum(-1)).clamp_min(0.0) * math.log(2.0)
        return (0.5 * (inside.sum(-1) + outside)).clamp_min(0.0)
    raise ValueError(f"unknown divergence {kind!r}; use one of {DIVERGENCES}")


def densify(ids: torch.Tensor, probs: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """Scatter sparse distributions into dense rows: ``(n, k), (n, k) -> (n, V)``."""
    dense = torch.zeros(ids.shape[0], vocab_size, device=probs.device, dtype=torch.float32)
    return dense.scatter_add_(1, ids.long(), probs.float())


def sparse_vs_sparse(ids_a: torch.Tensor, q_a: torch.Tensor, ids_b: torch.Tensor, q_b: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """Hellinger distance between every sparse ``a (n, k)`` and every sparse ``b (m, k)``: ``(n, m)``."""
    return sparse_vs_dense(ids_b, q_b, densify(ids_a, q_a, vocab_size), "hellinger")


def hellinger_search(ids: torch.Tensor, sqrt_q: torch.Tensor, p: torch.Tensor, n: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``n`` closest stored moments by Hellinger distance, for the large-bank path.

    ``ids (M, k)`` (int32 or long), ``sqrt_q (M, k)`` (fp16/fp32, precomputed ``sqrt q``),
    ``p (B, V)`` -> ``distance (B, n)``, ``index (B, n)``. Only the Bhattacharyya coefficient is
    reduced over ``M``; the square root is taken on the ``n`` winners. Wrap it in
    ``torch.compile`` to fuse gather, product and sum into one kernel.
    """
    bc = (p.sqrt().to(sqrt_q.dtype)[:, ids] * sqrt_q).sum(-1, dtype=torch.float32)
    if n == 1:
        best, index = bc.max(-1, keepdim=True)
    else:
        best, index = torch.topk(bc, n, dim=-1)
    return (1.0 - best).clamp_min(0.0).sqrt(), index
