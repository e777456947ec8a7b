"""The seed's augmented attention (1.2): ordinary attention output plus the fast-weight read.

Per layer, for token representations ``h (B, T, d)``:

1. context drift (1.3): ``c_t = lambda c_{t-1} + U h_t``, ``h~_t = h_t + W_c c_{t-1}``;
2. write gate (1.4): ``g_t = sigmoid(w_g^T [h~_t; c_t] + b_g)``;
3. ordinary attention: ``Q, K, V = h~ W_Q, h~ W_K, h~ W_V``, ``A V`` (causal, optionally windowed);
4. fast weights: ``k_t = W_K^fast h~_t``, ``v_t = W_V^fast h~_t`` (keys and queries L2-normalised),
   ``F_t = F_{t-1} + g_t eta k_t v_t^T`` (Hebbian), the delta rule, or ``G_phi(h~_t)`` (2.1);
5. ``H_aug = A V + gamma * F_t^T q_t`` per head, then ``W_O`` (with ``read_norm`` the read is first
   scaled to unit RMS per head, so it stays bounded however large ||F_t|| grows).

The seed writes the read as ``softmax(Q F_t^T / sqrt(d)) V^fast``; a softmax over the feature axis
of ``Q F_t^T`` does not index stored items, so we use the linear-attention reading of the same
matrix, ``F_t^T q_t = sum_s (q_t . k_s) u_s``, which retrieves the value bound to a key and makes
the contribution of each past write exact (traced as ``read`` events).
"""

from __future__ import annotations


import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from engine.cls.config import CLSConfig
from engine.cls.context_drift import ContextDrift
from engine.cls.fast_weight_trace import trace_fast_weights
from engine.cls.fast_weights import FastWeightResult, fast_weight_chunked
from engine.cls.hypernetwork import HyperUpdate
from engine.cls.write_gate import WriteGate
from tracing.recorder import NULL_RECORDER, Recorder

ATTENTION_BACKENDS = [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]
"""Kernels the ordinary attention may use: every one but cuDNN's, whose bf16 backward with an explicit
``attn_mask`` gave non-finite gradients on an H200 (torch 2.11: the first ~25 steps of the assoc-recall
model, with the default choice and with cuDNN forced; never with memory-efficient or math attention;
``bench/cls_bf16_probe.py``, docs/results/cls.md). The outputs are the same attention up to rounding."""


def causal_mask(T: int, window: int | None, device: torch.device) -> Tensor:
    """``(T, T)`` bool, True where query t may attend to key s: ``s <= t`` (and ``t - s < window``)."""
    t = torch.arange(T, device=device)
    lag = t[:, None] - t[None, :]
    allowed = lag >= 0
    return allowed & (lag < window) if window is not None else allowed


class AugmentedAttention(nn.Module):
    """One layer's attention with the episodic fast-weight path.

    ``forward(h (B, T, d), state, step0, recorder) -> (out (B, T, d), state)`` with
    ``state = {"F": (B, H, d_k, d_v), "c": (B, d)}`` carried across calls (episodes).
    ``last_writes`` holds ``(h~, k, v, g)`` of the last call when ``keep_writes`` is set (consolidation).
    """

    def __init__(self, cfg: CLSConfig, layer: int) -> None:
        super().__init__()
        self.cfg, self.layer = cfg, layer
        d, H = cfg.d_model, cfg.n_heads
        self.n_heads, self.head_dim = H, cfg.head_dim
        self.W_QKV = nn.Linear(d, 3 * d)
        self.W_O = nn.Linear(d, d)
        self.fast = cfg.has_fast_weights(layer)
        self.keep_writes = False
        self.last_writes: tuple[Tensor, Tensor, Tensor, Tensor] | None = None
        if not self.fast:
            return
        self.drift = ContextDrift(d, d, cfg.context_lambda) if cfg.use_context else None
        self.gate = WriteGate(d, d if cfg.use_context else 0, bias_init=cfg.gate_bias_init) if cfg.use_gate else None
        self.W_K_fast = nn.Linear(d, d, bias=False)
        self.W_V_fast = nn.Linear(d, d, bias=False)
        self.gamma = nn.Parameter(torch.ones(H))
        self.hyper = HyperUpdate(d, H, cfg.head_dim, cfg.hyper_rank) if cfg.rule == "hyper" else None

    def _heads(self, x: Tensor) -> Tensor:
        B, T, _ = x.shape
        return x.view(B, T, self.n_heads, self.head_dim).transpose(1, 2)

    def forward(self, h: Tensor, state: dict | None = None, step0: int = 0, recorder: Recorder = NULL_RECORDER) -> tuple[Tensor, dict]:
        B, T, d = h.shape
        state = state or {}
        c = None
        if self.fast and self.drift is not None:
            c, h = self.drift(h, state.get("c"))
        Q, K, V = (self._heads(x) for x in self.W_QKV(h).chunk(3, dim=-1))
        mask = causal_mask(T, self.cfg.attn_window, h.device)
        with sdpa_kernel(ATTENTION_BACKENDS):
            attn = F.scaled_dot_product_attention(Q, K, V, attn_mask=mask)
        if not self.fast:
            return self.W_O(attn.transpose(1, 2).reshape(B, T, d)), {}
        g = self.gate(h, c) if self.gate is not None else h.new_ones(B, T)
        result, keys, values = self._fast_weights(h, Q, g, state.get("F"))
        read = result.read
        if self.cfg.read_norm:  # bounded whatever ||F_t|| grows to (Hebbian sums grow with T)
            read = read * torch.rsqrt(read.pow(2).mean(-1, keepdim=True) + 1e-6)
        out = attn + self.gamma.view(1, -1, 1, 1) * read.to(attn.dtype)
        if self.keep_writes:
            self.last_writes = (h.detach(), keys.detach(), values.detach(), g.detach())
        if recorder.enabled:
            trace_fast_weights(
                recorder, layer=self.layer, step0=step0, q=F.normalize(Q.float(), dim=-1), g=g, result=result,
                F0=state.get("F"), c=c, c_prev=state.get("c"), eta=self.cfg.eta, svd_every=self.cfg.svd_every,
            )
        new_state = {"F": result.state}
        if c is not None:
            new_state["c"] = c[:, -1]
        return self.W_O(out.transpose(1, 2).reshape(B, T, d)), new_state

    def _fast_weights(self, h: Tensor, Q: Tensor, g: Tensor, F0: Tensor | None) -> tuple[FastWeightResult, Tensor, Tensor]:
        """The fast-weight pass in float32 (the triangular solve has no bf16 kernel).

        Returns the result, and ``keys, values (B, T, d)`` (heads concatenated) for consolidation."""
        B, T, d = h.shape
        with torch.autocast(h.device.type, enabled=False):
            h32 = h.float()
            q = F.normalize(Q.float(), dim=-1)
            beta = (g.float() * self.cfg.eta).unsqueeze(1).expand(B, self.n_heads, T)
            if self.hyper is not None:
                a, b = self.hyper(h32)
                writes = beta[..., None, None] * b
                result = fast_weight_chunked(q, a, None, beta, "hyper", self.cfg.chunk_size, F0, writes=writes)
                keys, values = a[:, :, :, 0].transpose(1, 2).reshape(B, T, d), b[:, :, :, 0].transpose(1, 2).reshape(B, T, d)
            else:
                k = F.normalize(self._heads(self.W_K_fast(h32)), dim=-1)
                v = self._heads(self.W_V_fast(h32))
                result = fast_weight_chunked(q, k, v, beta, self.cfg.rule, self.cfg.chunk_size, F0)
                keys, values = k.transpose(1, 2).reshape(B, T, d), v.transpose(1, 2).reshape(B, T, d)
        return result, keys, values
