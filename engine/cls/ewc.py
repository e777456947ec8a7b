"""Elastic weight consolidation (Kirkpatrick et al. 2017) on the slow weights (seed 2.4).

After a task, the diagonal Fisher ``F_i = E[(d log p / d theta_i)^2]`` is estimated from squared
gradients of the task loss and the weights are anchored at ``theta*``. While learning the next
task the loss gains ``(lambda / 2) sum_i F_i (theta_i - theta*_i)^2``. Fishers of successive tasks
add up (online EWC with one anchor, the latest).
"""

from __future__ import annotations

from typing import Callable, Iterable

import torch
from torch import Tensor, nn


class EWC:
    """``penalty(model) = (strength / 2) sum_i F_i (theta_i - theta*_i)^2`` (zero before :meth:`consolidate`)."""

    name = "ewc"

    def __init__(self, strength: float) -> None:
        self.strength = strength
        self.fisher: dict[str, Tensor] = {}
        self.anchor: dict[str, Tensor] = {}

    def consolidate(self, model: nn.Module, loss_batches: Iterable[Callable[[], Tensor]]) -> None:
        """Estimate the Fisher from the squared gradients of each batch loss and anchor the weights.

        ``loss_batches``: callables each returning a scalar loss of the task just learned."""
        params = {n: p for n, p in model.named_parameters() if p.requires_grad}
        fisher = {n: torch.zeros_like(p) for n, p in params.items()}
        count = 0
        for loss_fn in loss_batches:
            model.zero_grad(set_to_none=True)
            loss_fn().backward()
            for n, p in params.items():
                if p.grad is not None:
                    fisher[n] += p.grad.detach() ** 2
            count += 1
        model.zero_grad(set_to_none=True)
        for n in params:
            f = fisher[n] / max(count, 1)
            self.fisher[n] = self.fisher[n] + f if n in self.fisher else f
            self.anchor[n] = params[n].detach().clone()

    def penalty(self, model: nn.Module) -> Tensor:
        total = None
        for n, p in model.named_parameters():
            if n in self.fisher:
                term = (self.fisher[n] * (p - self.anchor[n]) ** 2).sum()
                total = term if total is None else total + term
        if total is None:
            return next(model.parameters()).new_zeros(())
        return 0.5 * self.strength * total
