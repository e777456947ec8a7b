"""Summaries of one next-token distribution per row: the signals moment detection reads.

All functions take log-probabilities ``logp (B, V)`` (from :func:`log_probs`) and stay on the
device; none synchronises with the host.
"""

from __future__ import annotations

import torch

LOGP_FLOOR = -80.0
"""Log-probabilities are clamped here so that masked (``-inf``) logits keep divergences finite."""


def log_probs(logits: torch.Tensor) -> torch.Tensor:
    """``log softmax`` in float32, floored at :data:`LOGP_FLOOR`: ``(B, V) -> (B, V)``."""
    return torch.log_softmax(logits.float(), dim=-1).clamp_min(LOGP_FLOOR)


def entropy(logp: torch.Tensor) -> torch.Tensor:
    """Shannon entropy ``H(p) = -sum_v p_v log p_v`` in nats: ``(B, V) -> (B,)``."""
    return -(logp.exp() * logp).sum(-1)


def surprisal(logp: torch.Tensor, token: torch.Tensor) -> torch.Tensor:
    """``-log p(token)`` of the chosen token: ``(B, V), (B,) -> (B,)``."""
    return -logp.gather(-1, token.long().unsqueeze(-1)).squeeze(-1)


def kl_divergence(logp: torch.Tensor, logp_prev: torch.Tensor) -> torch.Tensor:
    """``KL(p_t || p_{t-1})`` between consecutive distributions: ``(B, V), (B, V) -> (B,)``."""
    return (logp.exp() * (logp - logp_prev)).sum(-1).clamp_min(0.0)


def top_k(logp: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` most probable tokens: ``ids (B, k)`` long and ``probs (B, k)`` float32."""
    values, ids = torch.topk(logp, k, dim=-1)
    return ids, values.exp()


def topk_shift(ids: torch.Tensor, prev_ids: torch.Tensor) -> torch.Tensor:
    """Share of the current top-k absent from the previous top-k, in [0, 1]: ``(B, k) x2 -> (B,)``."""
    shared = (ids.unsqueeze(-1) == prev_ids.unsqueeze(-2)).any(-1)
    return 1.0 - shared.float().mean(-1)
