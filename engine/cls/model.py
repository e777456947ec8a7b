"""Host 1: the project's own small causal Transformer with the CLS fast-weight path in its layers.

``CLSTransformer(cfg)(tokens (B, T), recorder=, state=, step_offset=) -> ModelOutput``. With
``cfg.fast_weights = False`` it is the same Transformer without the episodic path (the throughput
baseline). ``state`` carries the episodic memories (F, c, kNN store, graph nodes) of every layer
across calls, not the attention context: attention is the within-episode working memory, the fast
weights span episodes.

Aux losses (already weighted, as the trainer expects): ``replay`` when a
:class:`engine.cls.consolidation.ReplayBuffer` is attached as ``model.consolidation``, and each
penalty of ``model.penalties`` (EWC, SI) by its name.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.cls.augmented_attention import AugmentedAttention
from engine.cls.config import CLSConfig
from engine.cls.consolidation import ReplayBuffer
from engine.cls.ewc import EWC
from engine.cls.graph_memory import GraphMemory
from engine.cls.knn_memory import KNNMemory
from engine.cls.synaptic_intelligence import SynapticIntelligence
from engine.models import ModelOutput
from tracing.recorder import NULL_RECORDER, Recorder


class CLSState(list):
    """The per-layer memories carried across calls: one dict per block (``attn``: F, c; ``knn``; ``graph``)."""

    def detach(self) -> "CLSState":
        """A copy whose tensors are cut from the autograd graph (memory kept, gradients stopped)."""
        return CLSState(_detach(s) for s in self)


def _detach(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _detach(v) for k, v in value.items()}
    return value.detach() if isinstance(value, Tensor) else value


class FeedForward(nn.Module):
    """``FFN(h) = W_2 gelu(W_1 h)``: ``(B, T, d)`` -> ``(B, T, d)``."""

    def __init__(self, d_model: int, d_ff: int) -> None:
        super().__init__()
        self.W_1, self.W_2 = nn.Linear(d_model, d_ff), nn.Linear(d_ff, d_model)

    def forward(self, h: Tensor) -> Tensor:
        return self.W_2(F.gelu(self.W_1(h)))


class CLSBlock(nn.Module):
    """``x + AugAttn(LN(x)) [+ kNN + graph]``, then ``x + FFN(LN(x))``."""

    def __init__(self, cfg: CLSConfig, layer: int) -> None:
        super().__init__()
        self.layer = layer
        self.ln_1, self.ln_2 = nn.LayerNorm(cfg.d_model), nn.LayerNorm(cfg.d_model)
        self.attn = AugmentedAttention(cfg, layer)
        self.ffn = FeedForward(cfg.d_model, cfg.d_ff)
        self.knn = KNNMemory(cfg.d_model, cfg.knn_k, cfg.knn_capacity) if layer in cfg.knn_layers else None
        self.graph = GraphMemory(cfg.d_model, cfg.graph_capacity, cfg.chunk_size) if layer in cfg.graph_layers else None
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: Tensor, state: dict, step0: int, recorder: Recorder) -> tuple[Tensor, dict]:
        h = self.ln_1(x)
        a, new_state = self.attn(h, state.get("attn"), step0, recorder)
        new_state = {"attn": new_state}
        if self.knn is not None:
            r, new_state["knn"] = self.knn(h, state.get("knn"), step0, recorder, self.layer)
            a = a + r
        if self.graph is not None:
            r, new_state["graph"] = self.graph(h, state.get("graph"), step0, recorder, self.layer)
            a = a + r
        x = x + self.drop(a)
        return x + self.drop(self.ffn(self.ln_2(x))), new_state


class CLSTransformer(nn.Module):
    """Token + position embeddings, ``n_layers`` :class:`CLSBlock`, final LayerNorm, tied output head."""

    def __init__(self, cfg: CLSConfig) -> None:
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos = nn.Embedding(cfg.max_len, cfg.d_model) if cfg.pos_embedding else None
        self.blocks = nn.ModuleList(CLSBlock(cfg, i) for i in range(cfg.n_layers))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        nn.init.normal_(self.embed.weight, std=0.02)
        if self.pos is not None:
            nn.init.normal_(self.pos.weight, std=0.02)
        self.consolidation = ReplayBuffer(cfg.replay_capacity, weight=cfg.replay_weight) if cfg.replay_weight > 0 else None
        self.penalties: list = []  # EWC / SI penalties on the slow weights
        if cfg.ewc_strength > 0:
            self.penalties.append(EWC(cfg.ewc_strength))
        if cfg.si_strength > 0:
            self.penalties.append(SynapticIntelligence(self, cfg.si_strength))

    def forward(self, tokens: Tensor, *, recorder: Recorder = NULL_RECORDER, state: list | None = None, step_offset: int = 0) -> ModelOutput:
        if self.cfg.full_precision and torch.is_autocast_enabled(tokens.device.type):
            with torch.autocast(tokens.device.type, enabled=False):
                return self._forward(tokens, recorder, state, step_offset)
        return self._forward(tokens, recorder, state, step_offset)

    def _forward(self, tokens: Tensor, recorder: Recorder, state: list | None, step_offset: int) -> ModelOutput:
        B, T = tokens.shape
        if T > self.cfg.max_len:
            raise ValueError(f"sequence of {T} tokens is longer than max_len {self.cfg.max_len}")
        x = self.embed(tokens)
        if self.pos is not None:
            x = x + self.pos(torch.arange(T, device=tokens.device))
        state = state or [{} for _ in self.blocks]
        collecting = self.training and self.consolidation is not None and not self.consolidation.frozen
        for attn in self.fast_layers():
            attn.keep_writes = collecting
        new_state = CLSState()
        for block, s in zip(self.blocks, state):
            x, s = block(x, s, step_offset, recorder)
            new_state.append(s)
        logits = self.ln_f(x) @ self.embed.weight.T
        if collecting:
            self.consolidation.collect(self)
        return ModelOutput(logits, self._aux_losses(), new_state)

    def _aux_losses(self) -> dict[str, Tensor]:
        aux: dict[str, Tensor] = {}
        if self.training and self.consolidation is not None:
            loss = self.consolidation.loss(self)
            if loss is not None:
                aux["replay"] = loss
        if self.training:
            for penalty in self.penalties:
                aux[penalty.name] = penalty.penalty(self)
        return aux

    def end_task(self, make_batch: Callable[[], Any], fisher_batches: int = 4) -> None:
        """Called by the trainer when a continual task ends: archive the replay set, estimate EWC's
        Fisher on ``fisher_batches`` batches of the finished task, consolidate SI's importances."""
        if self.consolidation is not None:
            self.consolidation.end_task()
        si = [p for p in self.penalties if isinstance(p, SynapticIntelligence)]
        was_training = self.training
        self.eval()  # no replay collection, no penalties in the Fisher pass
        for p in si:
            p.paused = True
        for p in self.penalties:
            if isinstance(p, EWC):
                p.consolidate(self, [lambda: _scored_loss(self, make_batch()) for _ in range(fisher_batches)])
        for p in si:
            p.paused = False
            p.consolidate(self)
        self.train(was_training)

    def fast_layers(self) -> list[AugmentedAttention]:
        """The attention modules that carry fast weights."""
        return [b.attn for b in self.blocks if b.attn.fast]


def _scored_loss(model: CLSTransformer, batch: Any) -> Tensor:
    """Cross-entropy of ``model`` on a task batch's scored positions (targets != -100)."""
    device = next(model.parameters()).device
    logits = model(batch.inputs.to(device)).logits
    return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), batch.targets.to(device).reshape(-1), ignore_index=-100)
