"""Graph-structured semantic memory (seed 2.3).

Nodes ``n_j = W_n h_j`` are made from stored entries (the hidden states of earlier steps); the
adjacency is learned, ``E_jk = sigma(n_j^T W_e n_k)``; one graph convolution
``n'_j = sum_k E_jk W_g n_k``; the graph is read back by attention,
``A_graph = softmax(Q N'^T / sqrt(d))``, ``H_final = A_graph N'`` (added to the residual through a
zero-initialised ``W_o``).

The graph is rebuilt every ``chunk_size`` steps from the last ``capacity`` entries written before
the chunk (carried across calls in ``state``): the tokens of a chunk read the graph of the past,
never their own chunk, so it stays causal at a cost of O((T / C) M^2 d) rather than O(T M^2 d).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from engine.cls.trace import record_writes
from tracing.recorder import NULL_RECORDER, Recorder

MEMORY = "graph"


def adjacency(nodes: Tensor, W_e: Tensor) -> Tensor:
    """``E_jk = sigma(n_j^T W_e n_k)``: ``nodes (B, M, d)``, ``W_e (d, d)`` -> ``(B, M, M)``."""
    return torch.sigmoid(nodes @ W_e @ nodes.transpose(1, 2))


def graph_convolution(nodes: Tensor, E: Tensor, W_g: Tensor) -> Tensor:
    """``n'_j = sum_k E_jk W_g n_k``: ``nodes (B, M, d)``, ``E (B, M, M)``, ``W_g (d, d)`` -> ``(B, M, d)``."""
    return E @ (nodes @ W_g.T)


class GraphMemory(nn.Module):
    """``forward(h (B, T, d), state, step0, recorder, layer) -> (out (B, T, d), state)``.

    ``state = {"nodes": (B, P, d), "steps": (P,) long}`` (the last ``capacity`` node entries).
    """

    def __init__(self, d_model: int, capacity: int, chunk_size: int, edges_traced: int = 4) -> None:
        super().__init__()
        self.capacity, self.chunk_size, self.edges_traced = capacity, chunk_size, edges_traced
        self.W_n = nn.Linear(d_model, d_model, bias=False)
        self.W_q = nn.Linear(d_model, d_model, bias=False)
        self.W_e = nn.Parameter(torch.randn(d_model, d_model) / d_model)
        self.W_g = nn.Parameter(torch.eye(d_model) / math.sqrt(d_model))
        self.W_o = nn.Linear(d_model, d_model, bias=False)
        nn.init.zeros_(self.W_o.weight)

    def forward(
        self, h: Tensor, state: dict | None = None, step0: int = 0, recorder: Recorder = NULL_RECORDER, layer: int = 0
    ) -> tuple[Tensor, dict]:
        B, T, d = h.shape
        entries = self.W_n(h)
        q = self.W_q(h)
        nodes = state["nodes"] if state is not None else h.new_zeros(B, 0, d)
        steps = state["steps"] if state is not None else torch.zeros(0, dtype=torch.long, device=h.device)
        outs = []
        for start in range(0, T, self.chunk_size):
            stop = min(start + self.chunk_size, T)
            outs.append(self._read(q[:, start:stop], nodes, steps, step0 + start, recorder, layer))
            nodes = torch.cat([nodes, entries[:, start:stop]], 1)[:, -self.capacity :]
            steps = torch.cat([steps, torch.arange(step0 + start, step0 + stop, device=h.device)])[-self.capacity :]
        if recorder.enabled:
            cells = torch.arange(step0, step0 + T, device=h.device).view(1, 1, T).expand(B, 1, T)
            record_writes(recorder, memory=MEMORY, layer=layer, step0=step0, cells=cells, weight=entries.norm(dim=-1).unsqueeze(1), gate=None)
        return self.W_o(torch.cat(outs, 1)), {"nodes": nodes.detach(), "steps": steps}

    def _read(self, q: Tensor, nodes: Tensor, steps: Tensor, step0: int, rec: Recorder, layer: int) -> Tensor:
        """``q (B, C, d)`` reads the graph of ``nodes (B, M, d)``: ``A_graph N'`` -> ``(B, C, d)`` (zero when M = 0)."""
        if nodes.shape[1] == 0:
            return torch.zeros_like(q)
        E = adjacency(nodes, self.W_e)
        conv = graph_convolution(nodes, E, self.W_g)
        A = torch.softmax(q @ conv.transpose(1, 2) / math.sqrt(q.shape[-1]), dim=-1)
        if rec.enabled:
            self._trace(rec, layer, step0, steps, E, A)
        return A @ conv

    def _trace(self, rec: Recorder, layer: int, step0: int, steps: Tensor, E: Tensor, A: Tensor) -> None:
        """Edges: ``read`` with ``other_cell`` (the strongest ``edges_traced`` per node, at the chunk's
        first step); graph attention: ``read`` of each node by each query (``other_cell`` null)."""
        B, M, _ = E.shape
        k = min(self.edges_traced, M)
        top = E.topk(k, dim=-1)
        b = torch.arange(B, device=E.device).view(B, 1, 1).expand(B, M, k)
        rec.events(
            step=step0, op="read", memory=MEMORY, layer=layer, batch=b.reshape(-1),
            cell=steps.view(1, M, 1).expand(B, M, k).reshape(-1), other_cell=steps[top.indices].reshape(-1),
            weight=top.values.detach().reshape(-1),
        )
        C = A.shape[1]
        b = torch.arange(B, device=A.device).view(B, 1, 1).expand(B, C, M)
        t = torch.arange(C, device=A.device).view(1, C, 1).expand(B, C, M)
        rec.events(
            step=(t + step0).reshape(-1), op="read", memory=MEMORY, layer=layer, batch=b.reshape(-1),
            cell=steps.view(1, 1, M).expand(B, C, M).reshape(-1), weight=A.detach().reshape(-1),
        )
