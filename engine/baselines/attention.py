"""Causal self-attention with rotary positions, over the full context or a sliding window ``W``."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def rotary(x: torch.Tensor, base: float = 10000.0) -> torch.Tensor:
    """Rotary position embedding (RoPE) over the time axis.

    Args:
      x: ``(B, heads, T, d_head)`` with even ``d_head``.
    Returns:
      the same shape, each pair of channels rotated by ``t * base**(-2i/d_head)``.
    """
    t, d = x.shape[-2], x.shape[-1]
    freqs = base ** (-torch.arange(0, d, 2, device=x.device, dtype=torch.float32) / d)
    angles = torch.arange(t, device=x.device, dtype=torch.float32).unsqueeze(1) * freqs
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    x1, x2 = x[..., 0::2], x[..., 1::2]
    return torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1).flatten(-2)


def window_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, window: int) -> torch.Tensor:
    """Causal attention where position ``t`` sees ``(t - window, t]``, in blocks of ``window``
    (each block attends to itself and the previous block), so cost is ``O(T * window)``.

    Args:
      q, k, v: ``(B, heads, T, d_head)``.
    Returns:
      ``(B, heads, T, d_head)``.
    """
    b, h, t, d = q.shape
    w = window
    n_blocks = -(-t // w)
    pad = n_blocks * w - t
    if pad:
        q, k, v = (F.pad(x, (0, 0, 0, pad)) for x in (q, k, v))
    qb = q.reshape(b, h, n_blocks, w, d)
    kb = k.reshape(b, h, n_blocks, w, d)
    vb = v.reshape(b, h, n_blocks, w, d)
    prev_k = F.pad(kb, (0, 0, 0, 0, 1, 0))[:, :, :-1]
    prev_v = F.pad(vb, (0, 0, 0, 0, 1, 0))[:, :, :-1]
    keys = torch.cat([prev_k, kb], dim=3)
    values = torch.cat([prev_v, vb], dim=3)
    i = torch.arange(w, device=q.device).unsqueeze(1) + w  # query position within the 2w keys
    j = torch.arange(2 * w, device=q.device).unsqueeze(0)
    allowed = (j <= i) & (i - j < w)
    first = allowed & (j >= w)  # the first block has no previous block
    mask = allowed.expand(n_blocks, w, 2 * w).clone()
    mask[0] = first
    out = F.scaled_dot_product_attention(qb, keys, values, attn_mask=mask)
    return out.reshape(b, h, n_blocks * w, d)[:, :, :t]


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention with RoPE; ``window=None`` means full context."""

    def __init__(self, d_model: int, n_heads: int, window: int | None) -> None:
        super().__init__()
        self.n_heads, self.window = n_heads, window
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, T, d_model) -> (B, T, d_model)``."""
        b, t, d = x.shape
        q, k, v = self.qkv(x).reshape(b, t, 3, self.n_heads, d // self.n_heads).permute(2, 0, 3, 1, 4)
        q, k = rotary(q), rotary(k)
        if self.window is None or self.window >= t:
            out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            out = window_attention(q, k, v, self.window)
        return self.proj(out.transpose(1, 2).reshape(b, t, d))


class Block(nn.Module):
    """Pre-norm Transformer block: ``x + attn(LN x)``, then ``x + MLP(LN x)``."""

    def __init__(self, d_model: int, n_heads: int, window: int | None) -> None:
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.attn = CausalSelfAttention(d_model, n_heads, window)
        self.mlp = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.GELU(), nn.Linear(4 * d_model, d_model))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class CausalTransformer(nn.Module):
    """A stack of :class:`Block` ending in a LayerNorm: ``(B, T, d) -> (B, T, d)``."""

    def __init__(self, d_model: int, n_layers: int, n_heads: int, window: int | None) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(Block(d_model, n_heads, window) for _ in range(n_layers))
        self.ln = nn.LayerNorm(d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return self.ln(x)
