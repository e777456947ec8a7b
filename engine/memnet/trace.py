"""Turn the dense per-chunk records of one forward call into recorder events (lifecycle convention
of ARCHITECTURE.md): allocation of a slot = ``write`` (preceded by ``evict`` when the slot held live
content); gated residual update of addressed slots = ``update`` (+ ``erase`` with the erase factor);
top-k read = ``read``; decay below the floor = ``decay``; age/usage/norm after every chunk =
``cell_states``. Masks are applied once per call on the device (no per-step host sync)."""

from __future__ import annotations

import torch

from engine.memnet.bank import ChunkRecord
from tracing.recorder import Recorder

MEMORY = "slot"


def _grid(shape: tuple[int, ...], step0: torch.Tensor | int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Batch, head and step index tensors broadcast to ``shape = (B, H, T, ...)``."""
    b, h, t = shape[:3]
    extra = (1,) * (len(shape) - 3)
    batch = torch.arange(b, device=device).view(b, 1, 1, *extra).expand(shape)
    head = torch.arange(h, device=device).view(1, h, 1, *extra).expand(shape)
    step = (torch.arange(t, device=device) + step0).view(1, 1, t, *extra).expand(shape)
    return batch, head, step


def _emit(recorder: Recorder, op: str, mask: torch.Tensor | None, **columns: torch.Tensor) -> None:
    """One ``events`` call; rows where ``mask`` is true (all rows when ``None``)."""
    if mask is None:
        cols = {k: v.reshape(-1) for k, v in columns.items()}
    else:
        cols = {k: v[mask] for k, v in columns.items()}
    recorder.events(op=op, memory=MEMORY, layer=0, **cols)


def emit_records(recorder: Recorder, records: list[ChunkRecord], *, step_offset: int, write_floor: float) -> None:
    """Record every read, write, eviction, update, erase, decay and cell state of ``records``."""
    if not records:
        return
    device = records[0].read_idx.device
    cat = lambda name: torch.cat([getattr(r, name) for r in records], dim=2)  # noqa: E731
    read_idx, read_w = cat("read_idx"), cat("read_w")
    batch, head, step = _grid(tuple(read_idx.shape), step_offset, device)
    _emit(recorder, "read", None, step=step, batch=batch, head=head, cell=read_idx, weight=read_w)

    alloc_idx, alloc_w, gate, evicted = cat("alloc_idx"), cat("alloc_w"), cat("gate"), cat("evicted")
    batch, head, step = _grid(tuple(alloc_idx.shape), step_offset, device)
    _emit(recorder, "evict", evicted, step=step, batch=batch, head=head, cell=alloc_idx, gate=gate)
    _emit(recorder, "write", alloc_w >= write_floor, step=step, batch=batch, head=head, cell=alloc_idx, weight=alloc_w, gate=gate)

    update_idx, update_w = cat("update_idx"), cat("update_w")
    k = update_idx.shape[-1]
    batch, head, step = _grid(tuple(update_idx.shape), step_offset, device)
    updated = update_w >= write_floor
    gate_k = gate.unsqueeze(-1).expand(update_w.shape)
    _emit(recorder, "update", updated, step=step, batch=batch, head=head, cell=update_idx, weight=update_w, gate=gate_k)
    erase_k = cat("erase").unsqueeze(-1).expand(*update_w.shape[:3], k)
    _emit(recorder, "erase", updated & (erase_k > 0), step=step, batch=batch, head=head, cell=update_idx, weight=erase_k * update_w, gate=gate_k)

    # per-chunk tensors: (B, H, n_chunks, N) at each chunk's last token
    ends = torch.tensor([r.start + r.read_idx.shape[2] - 1 for r in records], device=device) + step_offset
    stack = lambda name: torch.stack([getattr(r, name) for r in records], dim=2)  # noqa: E731
    decayed, age, usage, norm = stack("decayed"), stack("age"), stack("usage"), stack("norm")
    b, h, n_chunks, n = age.shape
    batch, head, _ = _grid((b, h, n_chunks, n), 0, device)
    step = ends.view(1, 1, n_chunks, 1).expand(b, h, n_chunks, n)
    cell = torch.arange(n, device=device).view(1, 1, 1, n).expand(b, h, n_chunks, n)
    _emit(recorder, "decay", decayed, step=step, batch=batch, head=head, cell=cell)
    recorder.cell_states(
        step=step.reshape(-1), memory=MEMORY, layer=0, batch=batch.reshape(-1), head=head.reshape(-1),
        cell=cell.reshape(-1), age=age.reshape(-1), usage=usage.reshape(-1), norm=norm.reshape(-1),
    )
