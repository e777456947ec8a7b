"""Synaptic intelligence (Zenke, Poole & Ganguli 2017) on the slow weights (seed 2.4).

Along training each weight accumulates its contribution to the decrease of the loss,
``omega_i += -g_i * Delta theta_i`` (g the task-loss gradient, Delta theta the step taken). At the
end of a task the importance grows by ``Omega_i += omega_i / ((theta_i(end) - theta_i(start))^2 + xi)``,
omega resets, and the weights are anchored. The penalty is ``c sum_i Omega_i (theta_i - theta*_i)^2``.

Call :meth:`before_step` after ``backward`` (with the task loss gradient in ``.grad``), then
:meth:`after_step` after ``optimizer.step()``, and :meth:`consolidate` at a task's end.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class SynapticIntelligence:
    """``penalty(model) = strength * sum_i Omega_i (theta_i - theta*_i)^2``."""

    name = "si"

    def __init__(self, model: nn.Module, strength: float, xi: float = 1e-3) -> None:
        self.strength, self.xi = strength, xi
        params = self._params(model)
        self.omega = {n: torch.zeros_like(p) for n, p in params.items()}
        self.importance: dict[str, Tensor] = {}
        self.start = {n: p.detach().clone() for n, p in params.items()}
        self.anchor: dict[str, Tensor] = {}
        self._grad: dict[str, Tensor] = {}
        self._before: dict[str, Tensor] = {}

    @staticmethod
    def _params(model: nn.Module) -> dict[str, nn.Parameter]:
        return {n: p for n, p in model.named_parameters() if p.requires_grad}

    def before_step(self, model: nn.Module, task_grads: dict[str, Tensor] | None = None) -> None:
        """Remember the gradient ``g`` (``task_grads`` or the current ``.grad``) and the weights before the step."""
        for n, p in self._params(model).items():
            g = task_grads.get(n) if task_grads is not None else p.grad
            self._grad[n] = torch.zeros_like(p) if g is None else g.detach().clone()
            self._before[n] = p.detach().clone()

    def after_step(self, model: nn.Module) -> None:
        """``omega_i += -g_i * (theta_i(after) - theta_i(before))``."""
        for n, p in self._params(model).items():
            if n in self._before:
                self.omega[n] += -self._grad[n] * (p.detach() - self._before[n])

    def consolidate(self, model: nn.Module) -> None:
        """``Omega_i += omega_i / (Delta_i^2 + xi)``; reset omega; anchor ``theta*`` and the next task's start."""
        for n, p in self._params(model).items():
            delta = p.detach() - self.start[n]
            add = (self.omega[n] / (delta**2 + self.xi)).clamp(min=0)
            self.importance[n] = self.importance[n] + add if n in self.importance else add
            self.omega[n] = torch.zeros_like(p)
            self.anchor[n] = p.detach().clone()
            self.start[n] = p.detach().clone()

    def penalty(self, model: nn.Module) -> Tensor:
        total = None
        for n, p in model.named_parameters():
            if n in self.importance:
                term = (self.importance[n] * (p - self.anchor[n]) ** 2).sum()
                total = term if total is None else total + term
        if total is None:
            return next(model.parameters()).new_zeros(())
        return self.strength * total
