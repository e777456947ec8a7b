"""What a fast-weight pass records (ARCHITECTURE.md lifecycle convention, memory ``fast_weight``).

- each rank-1 write is a cell (``cell`` = write index = step * r + j): ``write`` with ``gate`` = g_t
  and ``weight`` = ||k_t u_t^T||_F (the update norm, eta and the gate included);
- each read records the top contributions of past writes: ``read`` of cell s at step t with
  ``weight`` = (q_t . k_s) ||u_s|| (signed norm of that write's share of r_t = F_t^T q_t);
- per step (metrics, series ``L<layer>``): ``fast_weight_norm`` ||F_t||_F, ``context_drift``
  ||c_t - c_{t-1}||, ``write_gate`` g_t (batch means) and ``eta`` once per call;
- every ``svd_every`` steps (series ``L<layer>H<head>``): ``fast_weight_singular_value`` (x = index)
  and ``fast_weight_effective_rank`` of F_t (batch mean).

Contributions are exact for the writes of the current call; what a carried F_0 holds from earlier
calls is in ``fast_weight_norm`` but not split into cells.
"""

from __future__ import annotations

import torch
from torch import Tensor

from engine.cls.context_drift import context_drift_norm
from engine.cls.fast_weights import FastWeightResult, fast_weight_history
from engine.cls.trace import effective_rank, record_step_metrics, record_top_reads, record_writes
from tracing.recorder import Recorder

MEMORY = "fast_weight"
READS_TRACED = 4
"""Top contributions recorded per query, head and layer."""


@torch.no_grad()
def trace_fast_weights(
    rec: Recorder,
    *,
    layer: int,
    step0: int,
    q: Tensor,
    g: Tensor,
    result: FastWeightResult,
    F0: Tensor | None,
    c: Tensor | None,
    c_prev: Tensor | None,
    eta: float,
    svd_every: int,
) -> None:
    """``q (B, H, T, d_k)`` the normalised queries, ``g (B, T)`` the gates, ``c (B, T, d_c)`` the contexts."""
    B, H, T, r, _ = result.keys.shape
    device = q.device
    steps = torch.arange(step0, step0 + T, device=device)
    cells = (steps.view(T, 1) * r + torch.arange(r, device=device)).view(1, 1, T, r).expand(B, H, T, r)
    update_norm = result.keys.norm(dim=-1) * result.writes.norm(dim=-1)  # ||k u^T||_F = ||k|| ||u||
    record_writes(rec, memory=MEMORY, layer=layer, step0=step0, cells=cells, weight=update_norm, gate=g.view(B, 1, T, 1))
    keys = result.keys.reshape(B, H, T * r, -1)
    contribution = (q.float() @ keys.transpose(-1, -2)) * update_norm.reshape(B, H, 1, T * r)
    source_step = torch.arange(T * r, device=device) // r
    visible = (source_step[None, :] <= torch.arange(T, device=device)[:, None]).expand(B, H, T, T * r)
    record_top_reads(
        rec, memory=MEMORY, layer=layer, step0=step0, weights=contribution, cells=cells.reshape(B, H, T * r)[:, 0],
        visible=visible, k=READS_TRACED,
    )
    history = fast_weight_history(F0, result.keys, result.writes)  # (B, H, T, d_k, d_v)
    series = f"L{layer}"
    rec.metric("eta", eta, step=step0, series=series)
    record_step_metrics(rec, name="fast_weight_norm", values=history.flatten(-2).norm(dim=-1).mean((0, 1)), step0=step0, series=series)
    if c is not None:
        record_step_metrics(rec, name="context_drift", values=context_drift_norm(c, c_prev).mean(0), step0=step0, series=series)
    record_step_metrics(rec, name="write_gate", values=g.float().mean(0), step0=step0, series=series)
    sampled = [t for t in range(T) if (step0 + t + 1) % svd_every == 0]
    if not sampled:
        return
    sv = torch.linalg.svdvals(history[:, :, sampled].float()).mean(0)  # (H, n, min(d_k, d_v))
    ranks = effective_rank(sv)  # (H, n)
    steps = torch.tensor(sampled, device=sv.device) + step0  # (n,)
    index = torch.arange(sv.shape[-1], device=sv.device, dtype=torch.float32)  # (m,)
    for head in range(H):
        rec.metric("fast_weight_effective_rank", ranks[head], step=steps, series=f"{series}H{head}")
        rec.metric("fast_weight_singular_value", sv[head].reshape(-1), step=steps.repeat_interleave(sv.shape[-1]),
                   x=index.repeat(len(sampled)), series=f"{series}H{head}")
