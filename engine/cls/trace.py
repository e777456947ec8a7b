"""Tracing helpers shared by the CLS memories (fast weights, kNN, graph).

Everything here runs only when ``recorder.enabled``; it hands tensors to the recorder (no
per-step host copies). Nothing here feeds back into the model's outputs.
"""

from __future__ import annotations

import torch
from torch import Tensor

from tracing.recorder import Recorder


def grid(B: int, H: int, T: int, device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
    """Batch, head and time indices broadcast to ``(B, H, T)``."""
    b = torch.arange(B, device=device).view(B, 1, 1).expand(B, H, T)
    h = torch.arange(H, device=device).view(1, H, 1).expand(B, H, T)
    t = torch.arange(T, device=device).view(1, 1, T).expand(B, H, T)
    return b, h, t


def record_writes(rec: Recorder, *, memory: str, layer: int, step0: int, cells: Tensor, weight: Tensor, gate: Tensor | None) -> None:
    """One ``write`` per (batch, head, step, cell). ``cells``, ``weight``, ``gate``: ``(B, H, T)`` or ``(B, H, T, r)``."""
    if cells.dim() == 3:
        cells, weight = cells.unsqueeze(-1), weight.unsqueeze(-1)
        gate = None if gate is None else gate.unsqueeze(-1)
    B, H, T, r = cells.shape
    b, h, t = (x.unsqueeze(-1).expand(B, H, T, r) for x in grid(B, H, T, cells.device))
    rec.events(
        step=(t + step0).reshape(-1), op="write", memory=memory, layer=layer, head=h.reshape(-1), batch=b.reshape(-1),
        cell=cells.reshape(-1), weight=weight.detach().reshape(-1),
        gate=None if gate is None else gate.detach().expand(B, H, T, r).reshape(-1),
    )


def record_top_reads(
    rec: Recorder,
    *,
    memory: str,
    layer: int,
    step0: int,
    weights: Tensor,
    cells: Tensor,
    visible: Tensor,
    k: int,
) -> None:
    """The top-``k`` reads of each query by ``|weights|``. ``weights, visible (B, H, T, S)``; ``cells (B, S)``
    the cell id of each source. Invisible sources are never recorded."""
    B, H, T, S = weights.shape
    if S == 0 or T == 0:
        return
    k = min(k, S)
    score = weights.abs().masked_fill(~visible, float("-inf"))
    top = score.topk(k, dim=-1).indices
    keep = visible.gather(-1, top)
    b, h, t = (x.unsqueeze(-1).expand(B, H, T, k) for x in grid(B, H, T, weights.device))
    cell = cells[:, None, None, :].expand(B, H, T, S).gather(-1, top)
    columns = dict(
        step=(t + step0)[keep], head=h[keep], batch=b[keep], cell=cell[keep],
        weight=weights.detach().gather(-1, top)[keep],
    )
    rec.events(op="read", memory=memory, layer=layer, **columns)


def effective_rank(singular_values: Tensor, eps: float = 1e-12) -> Tensor:
    """Roy & Vetterli's effective rank ``exp(H(p))``, ``p = s / sum s``. ``(..., n)`` -> ``(...)``."""
    p = singular_values / singular_values.sum(-1, keepdim=True).clamp(min=eps)
    entropy = -(p * (p + eps).log()).sum(-1)
    return entropy.exp()


def record_step_metrics(rec: Recorder, *, name: str, values: Tensor, step0: int, series: str) -> None:
    """One metric row per step. ``values (T,)`` (already averaged over batch), handed over as a tensor."""
    steps = torch.arange(values.shape[0], device=values.device) + step0
    rec.metric(name, values.detach().float(), step=steps, series=series)
