"""Moment detection at each token boundary: which distributions are significant enough to store.

Signals per boundary ``t`` (each ``(B,)``): surprisal of the chosen token ``-log p_t(x_t)``;
entropy change ``H_t - H_{t-1}`` (a spike when large, a dip when very negative); ``KL(p_t || p_{t-1})``;
top-k shift. A signal fires when it exceeds its threshold: fixed, or adaptive
``mean + gamma * std`` over the last ``window`` boundaries (EM-LLM's surprisal rule applied to
every signal). A user pin (:meth:`MomentDetector.pin`) stores the next boundary regardless.
"""

from __future__ import annotations

import torch

from engine.moment.config import MomentConfig

TRIGGERS: tuple[str, ...] = ("none", "pinned", "surprisal", "entropy_spike", "entropy_dip", "kl_shift", "topk_shift")
"""Trigger codes: the index in this tuple. When several signals fire, the lowest code wins."""

SIGNAL_TRIGGERS: tuple[str, ...] = TRIGGERS[2:]
"""The trigger of each column of a ``signals (B, 5)`` tensor."""


def boundary_signals(surprisal: torch.Tensor, entropy: torch.Tensor, prev_entropy: torch.Tensor, kl: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Stack the five detection signals: ``(B,) x5 -> (B, 5)`` in :data:`SIGNAL_TRIGGERS` order."""
    delta = entropy - prev_entropy
    return torch.stack([surprisal, delta, -delta, kl, shift], dim=-1)


class MomentDetector:
    """Fixed or adaptive thresholds over a device ring buffer of recent signals ``(W, B, 5)``."""

    def __init__(self, config: MomentConfig, batch_size: int, device: torch.device) -> None:
        self.config = config
        self.device = device
        fixed = config.fixed
        self.fixed_thresholds = torch.tensor(
            [fixed.surprisal, fixed.entropy_delta, fixed.entropy_delta, fixed.kl, fixed.topk_shift], device=device
        )
        self.enabled = torch.tensor([t in config.triggers for t in SIGNAL_TRIGGERS], device=device)
        self.codes = torch.arange(2, 2 + len(SIGNAL_TRIGGERS), device=device)
        self.history = torch.zeros(config.window, batch_size, len(SIGNAL_TRIGGERS), device=device)
        self.seen = torch.zeros((), dtype=torch.long, device=device)
        self.pinned = torch.zeros((), dtype=torch.bool, device=device)

    def pin(self) -> None:
        """User-labelled importance: the next boundary is stored with trigger ``pinned``."""
        self.pinned.fill_(True)

    def thresholds(self) -> torch.Tensor:
        """Current thresholds ``(B, 5)``: fixed, or ``mean + gamma * std`` of the filled part of the
        window (``+inf`` while fewer than ``min_history`` boundaries were seen). Device-side only."""
        batch = self.history.shape[1]
        if self.config.threshold_mode == "fixed":
            return self.fixed_thresholds.expand(batch, -1)
        n = self.seen.clamp(max=self.config.window)
        filled = (torch.arange(self.config.window, device=self.device) < n).float().view(-1, 1, 1)
        count = n.clamp(min=1).float()
        mean = (self.history * filled).sum(0) / count
        std = (((self.history - mean) ** 2) * filled).sum(0).div(count).sqrt()
        return torch.where(self.seen >= self.config.min_history, mean + self.config.gamma * std, float("inf"))

    def detect(self, signals: torch.Tensor, valid: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Decide, then remember the signals. ``signals (B, 5)`` -> ``fired (B,)`` bool, ``trigger (B,)`` long.

        ``valid (5,)`` masks signals that are undefined at this boundary (the first one has no
        previous distribution). No host synchronisation.
        """
        enabled = self.enabled if valid is None else self.enabled & valid
        exceed = (signals > self.thresholds()) & enabled
        big = len(TRIGGERS)
        trigger = torch.where(exceed, self.codes, big).min(-1).values
        trigger = torch.where(self.pinned, 1, trigger)
        trigger = torch.where(trigger == big, 0, trigger)
        self.pinned.fill_(False)
        self.history.index_copy_(0, (self.seen % self.config.window).view(1), signals.unsqueeze(0))
        self.seen += 1
        return trigger > 0, trigger
