"""The write gate of seed 1.4: ``g_t = sigmoid(w_g^T [h_t; c_t] + b_g)`` in (0, 1)."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class WriteGate(nn.Module):
    """``w_g in R^{d + d_c}``, ``b_g`` a scalar. ``h (B, T, d)``, ``c (B, T, d_c)`` or None -> ``g (B, T)``.

    Without a context (``d_c = 0``) the gate reads ``h_t`` alone. ``b_g`` starts at ``bias_init``.
    """

    def __init__(self, d_model: int, d_context: int, bias_init: float = 0.0) -> None:
        super().__init__()
        self.d_context = d_context
        self.w_g = nn.Linear(d_model + d_context, 1)
        nn.init.normal_(self.w_g.weight, std=0.02)
        nn.init.constant_(self.w_g.bias, bias_init)

    def forward(self, h: Tensor, c: Tensor | None = None) -> Tensor:
        x = h if c is None else torch.cat([h, c], dim=-1)
        return torch.sigmoid(self.w_g(x)).squeeze(-1)
