"""Retrieval memory over past hidden states (seed 2.2), fused by cross-attention.

Past hidden states ``h_i`` are stored with keys ``k_i = W_k h_i`` and values ``v_i = W_v h_i``. At
step t: ``q_t = W_q h_t``; the top-K stored keys by ``q_t . k_i / sqrt(d)`` among the states of
*earlier* steps (carried ones included) are fused by ``A_RAG = softmax(q_t [k_{i_j}]^T)``,
``r_t = A_RAG [v_{i_j}]``; ``[h_t; r_t]`` feeds the next layer, here as ``h_t + W_r r_t``
(``W_r`` zero-initialised, a linear map of the concatenation). The store keeps the last
``capacity`` states across calls (``state``), like an external index.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from engine.cls.trace import record_writes
from tracing.recorder import NULL_RECORDER, Recorder

MEMORY = "knn"


class KNNMemory(nn.Module):
    """``forward(h (B, T, d), state, step0, recorder, layer) -> (out (B, T, d), state)``.

    ``state = {"keys": (B, P, d), "values": (B, P, d), "steps": (P,) long}`` or None.
    """

    def __init__(self, d_model: int, k: int, capacity: int) -> None:
        super().__init__()
        self.k, self.capacity = k, capacity
        self.W_q = nn.Linear(d_model, d_model, bias=False)
        self.W_k = nn.Linear(d_model, d_model, bias=False)
        self.W_v = nn.Linear(d_model, d_model, bias=False)
        self.W_r = nn.Linear(d_model, d_model, bias=False)
        nn.init.zeros_(self.W_r.weight)

    def forward(
        self, h: Tensor, state: dict | None = None, step0: int = 0, recorder: Recorder = NULL_RECORDER, layer: int = 0
    ) -> tuple[Tensor, dict]:
        B, T, d = h.shape
        q, k_new, v_new = self.W_q(h), self.W_k(h), self.W_v(h)
        steps_new = torch.arange(step0, step0 + T, device=h.device)
        if state is not None:
            keys = torch.cat([state["keys"], k_new], 1)
            values = torch.cat([state["values"], v_new], 1)
            steps = torch.cat([state["steps"], steps_new])
        else:
            keys, values, steps = k_new, v_new, steps_new
        scores = q @ keys.transpose(1, 2) / math.sqrt(d)  # (B, T, S)
        visible = (steps[None, :] < steps_new[:, None]).unsqueeze(0).expand(B, T, -1)  # strictly earlier steps
        kk = min(self.k, keys.shape[1])
        top = scores.masked_fill(~visible, float("-inf")).topk(kk, dim=-1)
        found = torch.isfinite(top.values)
        attn = torch.softmax(top.values.masked_fill(~found, -1e9), dim=-1) * found  # no neighbour: no read
        gathered = values.gather(1, top.indices.reshape(B, T * kk, 1).expand(B, T * kk, d)).view(B, T, kk, d)
        r = (attn.unsqueeze(-1) * gathered).sum(2)
        if recorder.enabled:
            self._trace(recorder, layer, step0, steps, k_new, top.indices, attn, top.values, found)
        keep = self.capacity
        new_state = {"keys": keys[:, -keep:].detach(), "values": values[:, -keep:].detach(), "steps": steps[-keep:]}
        return self.W_r(r), new_state

    def _trace(
        self, rec: Recorder, layer: int, step0: int, steps: Tensor, k_new: Tensor, idx: Tensor, attn: Tensor, score: Tensor, found: Tensor
    ) -> None:
        """A ``write`` per stored state (``weight`` = ||k_i||), a ``read`` per neighbour found."""
        B, T, kk = idx.shape
        cells = steps[-T:].view(1, 1, T).expand(B, 1, T)
        record_writes(rec, memory=MEMORY, layer=layer, step0=step0, cells=cells, weight=k_new.norm(dim=-1).unsqueeze(1), gate=None)
        _record_neighbours(rec, layer, step0, steps[idx], attn, score, found)


def _record_neighbours(rec: Recorder, layer: int, step0: int, cells: Tensor, attn: Tensor, score: Tensor, found: Tensor) -> None:
    """One ``read`` per neighbour found: ``cell`` = its step, ``weight`` = A_RAG, ``gate`` = the raw score."""
    B, T, kk = cells.shape
    b = torch.arange(B, device=cells.device).view(B, 1, 1).expand(B, T, kk)
    t = torch.arange(T, device=cells.device).view(1, T, 1).expand(B, T, kk)
    rec.events(
        step=(t + step0)[found], op="read", memory=MEMORY, layer=layer, batch=b[found], cell=cells[found],
        weight=attn.detach()[found], gate=score.detach()[found],
    )
