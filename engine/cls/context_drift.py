"""The drifting context of seed 1.3: ``c_t = lambda c_{t-1} + U h_t``, ``h~_{t+1} = h_{t+1} + W_c c_t``.

A linear recurrence, so the whole sequence is computed in parallel:
``c_t = lambda^{t+1} c_{-1} + sum_{s<=t} lambda^{t-s} U h_s`` (a (T, T) matrix of decays), and
step by step in :meth:`ContextDrift.step` (tested equal).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from engine.cls.config import CLSConfigError


def check_lambda(lam: float) -> float:
    """The seed requires 0 < lambda < 1; anything else is refused with one line."""
    if not 0.0 < float(lam) < 1.0:
        raise CLSConfigError(f"lambda (context drift) must be in (0, 1), got {lam}")
    return float(lam)


class ContextDrift(nn.Module):
    """``U in R^{d_c x d}`` (no bias), ``W_c in R^{d x d_c}`` (zero-initialised), fixed ``lambda``.

    ``forward(h (B, T, d), c_prev (B, d_c) or None) -> (c (B, T, d_c), h_tilde (B, T, d))`` where
    ``h_tilde_t = h_t + W_c c_{t-1}`` (the context of the previous token, c_{-1} = c_prev or 0).
    """

    def __init__(self, d_model: int, d_context: int, lam: float) -> None:
        super().__init__()
        self.lam = check_lambda(lam)
        self.U = nn.Linear(d_model, d_context, bias=False)
        self.W_c = nn.Linear(d_context, d_model, bias=False)
        nn.init.zeros_(self.W_c.weight)

    def contexts(self, h: Tensor, c_prev: Tensor | None = None) -> Tensor:
        """``c (B, T, d_c)``, all steps at once."""
        T = h.shape[1]
        uh = self.U(h)
        t = torch.arange(T, device=h.device)  # integer steps: a bf16 arange is inexact beyond 256
        lag = t[:, None] - t[None, :]
        decay = torch.where(lag >= 0, self.lam ** lag.clamp(min=0).double(), 0.0).to(uh.dtype)
        c = torch.einsum("ts,bsd->btd", decay, uh)
        if c_prev is not None:
            c = c + (self.lam ** (t + 1).double()).to(c.dtype)[None, :, None] * c_prev[:, None, :].to(c.dtype)
        return c

    def forward(self, h: Tensor, c_prev: Tensor | None = None) -> tuple[Tensor, Tensor]:
        c = self.contexts(h, c_prev)
        first = c_prev if c_prev is not None else torch.zeros_like(c[:, 0])
        shifted = torch.cat([first[:, None], c[:, :-1]], dim=1)
        return c, h + self.W_c(shifted)

    def step(self, h_t: Tensor, c_prev: Tensor) -> Tensor:
        """One step of the recurrence: ``h_t (B, d)``, ``c_prev (B, d_c)`` -> ``c_t (B, d_c)``."""
        return self.lam * c_prev + self.U(h_t)


def context_drift_norm(c: Tensor, c_prev: Tensor | None = None) -> Tensor:
    """``||c_t - c_{t-1}||`` per step: ``c (B, T, d_c)`` -> ``(B, T)`` (c_{-1} = c_prev or 0)."""
    first = c_prev if c_prev is not None else torch.zeros_like(c[:, 0])
    previous = torch.cat([first[:, None], c[:, :-1]], dim=1)
    return (c - previous).norm(dim=-1)
