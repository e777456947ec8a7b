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


def topk_softmax(scores: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Keep the ``k`` largest scores and softmax-normalise them.

    Args:
      scores: ``(..., N)`` sharpened similarities ``beta * K``.
    Returns:
      ``idx (..., k)`` slot indices (best first) and ``w (..., k)`` weights summing to 1.
    """
    top, idx = scores.topk(k, dim=-1)
    return idx, torch.softmax(top, dim=-1)


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


def address(keys: torch.Tensor, strength: torch.Tensor, memory: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Content addressing: ``topk_softmax(beta * cos(keys, M), k)``.

    Args:
      keys: ``(B, H, Q, D)``; strength: ``(B, H, Q)`` key strength ``beta >= 1``; memory ``(B, H, N, D)``.
    Returns:
      ``idx, w`` of shape ``(B, H, Q, k)``.
    """
    return topk_softmax(strength.unsqueeze(-1) * cosine_similarity(keys, memory), k)
