"""Meta-learned fast weights (seed 2.1): ``Delta F_t = G_phi(h_t)``, ``F_t = F_{t-1} + Delta F_t``.

A full ``d_k x d_v`` output per token is wasteful; ``G_phi`` generates a rank-r update per head,
``Delta F_t = g_t eta sum_{j<r} a_{t,j} b_{t,j}^T`` with ``a = normalize(A_phi(h_t))`` and
``b = B_phi(h_t)`` produced by a two-layer MLP. The r writes of a step are r traced cells.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class HyperUpdate(nn.Module):
    """``G_phi``: ``h (B, T, d)`` -> keys ``a (B, H, T, r, d_k)`` (unit norm) and values ``b (B, H, T, r, d_v)``."""

    def __init__(self, d_model: int, n_heads: int, head_dim: int, rank: int, hidden: int | None = None) -> None:
        super().__init__()
        self.n_heads, self.head_dim, self.rank = n_heads, head_dim, rank
        hidden = hidden or d_model
        self.net = nn.Sequential(nn.Linear(d_model, hidden), nn.GELU(), nn.Linear(hidden, 2 * n_heads * rank * head_dim))

    def forward(self, h: Tensor) -> tuple[Tensor, Tensor]:
        B, T, _ = h.shape
        out = self.net(h).view(B, T, 2, self.n_heads, self.rank, self.head_dim).permute(2, 0, 3, 1, 4, 5)
        return F.normalize(out[0], dim=-1), out[1]

    def delta(self, h: Tensor, scale: Tensor) -> Tensor:
        """The generated update itself, ``Delta F_t (B, H, T, d_k, d_v)``; ``scale (B, H, T)`` = g_t eta."""
        a, b = self.forward(h)
        return scale[..., None, None] * (a.transpose(-1, -2) @ b)
