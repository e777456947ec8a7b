"""A stored moment's signature: what the bank keeps, and how it is derived from one boundary.

Per moment (seed 000, "Storing Minimal Snapshots"): top-k token ids and probabilities of the
next-token distribution ``p_t``, entropy, KL from ``p_{t-1}``, surprisal, trigger, a context hash
of the tokens that led to ``p_t``, the position, the token ``x_t`` that actually followed, and
optionally the last hidden state (fp16) as an embedding. The bank (:mod:`engine.moment.bank`)
holds these columns; context text is kept on the host (:attr:`MomentMemory.texts`).
"""

from __future__ import annotations

import torch

_HASH_MOD = 2_147_483_647
_HASH_BASE = 1_000_003


def context_hash(ids: torch.Tensor, powers: torch.Tensor) -> torch.Tensor:
    """Polynomial hash of the last ``w`` token ids of each row, on the device: ``(B, T) -> (B,)`` long.

    ``powers (w,)`` from :func:`hash_powers`. Rows shorter than ``w`` are hashed as left-padded with ``-1``.
    """
    window = powers.shape[0]
    ids = ids[:, -window:].long()
    if ids.shape[1] < window:
        ids = torch.nn.functional.pad(ids, (window - ids.shape[1], 0), value=-1)
    return ((ids + 2) % _HASH_MOD * powers).sum(-1) % _HASH_MOD


def hash_powers(window: int, device: torch.device) -> torch.Tensor:
    """``BASE^(w-1), ..., BASE^0`` mod ``MOD`` on ``device`` (build once, not per token: no host copy)."""
    return torch.tensor([pow(_HASH_BASE, i, _HASH_MOD) for i in range(window - 1, -1, -1)], device=device)


def format_hash(value: int) -> str:
    """The context hash as text (8 hex digits)."""
    return f"{int(value):08x}"


def match_distribution(topk_probs: torch.Tensor) -> torch.Tensor:
    """Renormalised top-k probabilities ``q`` compared with new distributions: ``(B, k) -> (B, k)``."""
    return topk_probs / topk_probs.sum(-1, keepdim=True).clamp_min(1e-12)


def recall_distribution(topk_ids: torch.Tensor, q: torch.Tensor, token: torch.Tensor, outcome_weight: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The distribution re-injected on resonance: ``(1 - beta) q + beta onehot(x_t)``.

    ``topk_ids (B, k)``, ``q (B, k)``, ``token (B,)`` -> ``ids (B, k+1)``, ``probs (B, k+1)``
    (a repeated id simply adds up when scattered).
    """
    ids = torch.cat([topk_ids, token.long().unsqueeze(-1)], dim=-1)
    probs = torch.cat([(1.0 - outcome_weight) * q, torch.full_like(q[:, :1], outcome_weight)], dim=-1)
    return ids, probs
