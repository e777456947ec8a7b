"""Top-k cosine addressing (seed: "Top-k cosine similarity addressing ... softmax-normalized sparse
weights") and the sparse read."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def cosine_similarity(keys: torch.Tensor, memory: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Cosine similarity of every key with every slot.

    Args:
      keys: ``(B, H, Q, D)`` query keys.
      memory: ``(B, H, N, D)`` slot contents ``M``.
    Returns:
      ``(B, H, Q, N)`` with ``K[q, i] = <k_q, M_i> / (|k_q| |M_i|)`` (0 for an empty slot).
    """
    return F.normalize(keys, dim=-1, eps=eps) @ F.normalize(memory, dim=-1, eps=eps).transpose(-1, -2)


MASKED = -1e4
"""Score of a slot that may not be addressed (far below any ``beta * cos``; its weight is set to 0)."""


def topk_softmax(scores: torch.Tensor, k: int, allowed: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Keep the ``k`` largest scores and softmax-normalise them.

    Args:
      scores: ``(..., N)`` sharpened similarities ``beta * K``.
      allowed: ``(..., N)`` bool or ``None``; slots that are not allowed get weight 0 (all of a
        row's weights are 0 when none is allowed).
    Returns:
      ``idx (..., k)`` slot indices (best first) and ``w (..., k)`` weights summing to 1 (or 0).
    """
    if allowed is not None:
        scores = scores.masked_fill(~allowed, MASKED)
    top, idx = scores.topk(k, dim=-1)
    weights = torch.softmax(top, dim=-1)
    return idx, weights if allowed is None else weights.masked_fill(top <= MASKED, 0.0)


def sparse_read(memory: torch.Tensor, idx: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Weighted sum of the addressed slots, ``r = sum_j w_j M[idx_j]``.

    Args:
      memory: ``(B, H, N, D)``; idx, weights: ``(B, H, Q, k)``.
    Returns:
      ``(B, H, Q, D)`` read vectors.
    """
    b, h, q, k = idx.shape
    d = memory.shape[-1]
    gathered = memory.gather(2, idx.reshape(b, h, q * k, 1).expand(b, h, q * k, d)).reshape(b, h, q, k, d)
    return (weights.unsqueeze(-1).to(gathered.dtype) * gathered).sum(dim=-2)


def address(
    keys: torch.Tensor, strength: torch.Tensor, memory: torch.Tensor, k: int, live: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Content addressing: ``topk_softmax(beta * cos(keys, M), k)``, over the ``live`` slots only when given.

    Cosine ignores a slot's norm, so a slot holding only faint sub-floor writes competes with a
    written fact on equal terms; restricting reads to live slots (allocated content) removes them.

    Args:
      keys: ``(B, H, Q, D)``; strength: ``(B, H, Q)`` key strength ``beta >= 1``; memory ``(B, H, N, D)``;
      live: ``(B, H, N)`` bool or ``None``.
    Returns:
      ``idx, w`` of shape ``(B, H, Q, k)``.
    """
    allowed = None if live is None else live.unsqueeze(2).expand(*keys.shape[:3], live.shape[-1])
    return topk_softmax(strength.unsqueeze(-1) * cosine_similarity(keys, memory), k, allowed)
