"""Synaptic intelligence (Zenke, Poole & Ganguli 2017) on the slow weights (seed 2.4).

Along training each weight accumulates its contribution to the decrease of the loss,
``omega_i += -g_i * Delta theta_i`` (g the training-loss gradient of a step, Delta theta the step
the optimiser took). At the end of a task the importance grows by
``Omega_i += omega_i / ((theta_i(end) - theta_i(start))^2 + xi)``, omega resets and the weights are
anchored; the penalty is ``c sum_i Omega_i (theta_i - theta*_i)^2``.

No trainer hook is needed: a gradient hook on each parameter sees ``g`` of step n and, one step
later, the weights after step n; :meth:`consolidate` adds the last pending step. Backward passes
made while :attr:`paused` (e.g. EWC's Fisher estimate) are not counted.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class SynapticIntelligence:
    """``penalty(model) = strength * sum_i Omega_i (theta_i - theta*_i)^2``; hooks ``model``'s parameters."""

    name = "si"

    def __init__(self, model: nn.Module, strength: float, xi: float = 1e-3) -> None:
        self.strength, self.xi = strength, xi
        self.paused = False
        params = self._params(model)
        self.omega = {n: torch.zeros_like(p) for n, p in params.items()}
        self.importance: dict[str, Tensor] = {}
        self.start = {n: p.detach().clone() for n, p in params.items()}
        self.anchor: dict[str, Tensor] = {}
        self._pending: dict[str, tuple[Tensor, Tensor]] = {}  # name -> (g, theta) of the last step
        self._handles = [p.register_post_accumulate_grad_hook(self._hook(n)) for n, p in params.items()]

    @staticmethod
    def _params(model: nn.Module) -> dict[str, nn.Parameter]:
        return {n: p for n, p in model.named_parameters() if p.requires_grad}

    def _hook(self, name: str):
        def hook(p: Tensor) -> None:
            if self.paused or p.grad is None:
                return
            self._settle(name, p)
            self._pending[name] = (p.grad.detach().clone(), p.detach().clone())

        return hook

    def _settle(self, name: str, p: Tensor) -> None:
        """``omega += -g (theta_now - theta_then)`` for the pending step of ``name``."""
        if name in self._pending:
            g, before = self._pending.pop(name)
            self.omega[name] = self.omega[name].to(p.device) - g * (p.detach() - before)

    def consolidate(self, model: nn.Module) -> None:
        """``Omega_i += omega_i / (Delta_i^2 + xi)``; reset omega; anchor ``theta*`` and the next task's start."""
        for n, p in self._params(model).items():
            self._settle(n, p)
            delta = p.detach() - self.start[n].to(p.device)
            add = (self.omega[n] / (delta**2 + self.xi)).clamp(min=0)
            self.importance[n] = self.importance[n] + add if n in self.importance else add
            self.omega[n] = torch.zeros_like(p)
            self.anchor[n] = p.detach().clone()
            self.start[n] = p.detach().clone()

    def penalty(self, model: nn.Module) -> Tensor:
        total = None
        for n, p in model.named_parameters():
            if n in self.importance:
                term = (self.importance[n].to(p.device) * (p - self.anchor[n].to(p.device)) ** 2).sum()
                total = term if total is None else total + term
        if total is None:
            return next(model.parameters()).new_zeros(())
        return self.strength * total

    def remove(self) -> None:
        """Remove the gradient hooks."""
        for handle in self._handles:
            handle.remove()
