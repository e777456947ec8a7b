"""The configuration of a CLS (fast-weight episodic memory) model and its range checks."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

RULES: tuple[str, ...] = ("hebbian", "delta", "hyper")
"""Fast-weight update rules: Hebbian sum rule, delta rule, hypernetwork-generated update."""


class CLSConfigError(ValueError):
    """A CLS configuration value outside its valid range (one-line message)."""


@dataclass
class CLSConfig:
    """Sizes and switches of :class:`engine.cls.model.CLSTransformer`.

    ``d_model`` = d, ``n_heads`` heads of ``d // n_heads`` (= d_k = d_v of each head's fast
    weights F_t in R^{d_k x d_v}). ``eta`` is the seed's fast learning rate (0 < eta <= 1),
    ``context_lambda`` the drift factor lambda of ``c_t = lambda c_{t-1} + U h_t`` (0 < lambda < 1).
    """

    vocab_size: int = 64
    d_model: int = 64
    n_heads: int = 2
    n_layers: int = 2
    d_ff: int = 128
    max_len: int = 512
    dropout: float = 0.0
    attn_window: int | None = None  # softmax attention sees only the last `attn_window` tokens
    read_norm: bool = True  # scale each head's fast read F_t^T q_t to unit RMS before gamma
    full_precision: bool = False  # run the whole model in float32 even under bf16 autocast
    pos_embedding: bool = True  # False: no learned positions (order comes from the causal window and c_t)
    fast_weights: bool = True  # False: the same Transformer without the fast-weight path
    fast_layers: tuple[int, ...] | None = None  # layers with fast weights (None: all)
    rule: str = "delta"
    eta: float = 0.5
    use_gate: bool = True
    gate_bias_init: float = 0.0  # b_g at initialisation: g_0 = sigmoid(b_g) (0: half open; 3: 0.95, writes start near eta)
    use_context: bool = True
    context_lambda: float = 0.9
    hyper_rank: int = 2  # rank r of G_phi(h_t) when rule == "hyper"
    chunk_size: int = 64  # chunk length of the parallel fast-weight form
    knn_layers: tuple[int, ...] = ()
    knn_k: int = 8
    knn_capacity: int = 1024
    graph_layers: tuple[int, ...] = ()
    graph_capacity: int = 64
    svd_every: int = 16  # trace the singular values of F every this many steps
    replay_weight: float = 0.0  # > 0: replay consolidation of stored (k, v) into the slow weights
    replay_capacity: int = 2048  # stored writes kept per layer and task
    ewc_strength: float = 0.0  # > 0: EWC penalty on the slow weights after each task
    si_strength: float = 0.0  # > 0: synaptic-intelligence penalty after each task

    def __post_init__(self) -> None:
        for name in ("fast_layers", "knn_layers", "graph_layers"):  # JSON gives lists
            value = getattr(self, name)
            if isinstance(value, list):
                setattr(self, name, tuple(value))
        self.validate()

    def validate(self) -> None:
        """Raise :class:`CLSConfigError` with a one-line reason on an invalid value."""
        if not 0.0 < float(self.eta) <= 1.0:
            raise CLSConfigError(f"eta must be in (0, 1], got {self.eta}")
        if not math.isfinite(float(self.gate_bias_init)):
            raise CLSConfigError(f"gate_bias_init must be a finite number, got {self.gate_bias_init}")
        if not 0.0 < float(self.context_lambda) < 1.0:
            raise CLSConfigError(f"lambda (context drift) must be in (0, 1), got {self.context_lambda}")
        if self.rule not in RULES:
            raise CLSConfigError(f"unknown fast-weight rule {self.rule!r}; choose one of {', '.join(RULES)}")
        if self.d_model % self.n_heads:
            raise CLSConfigError(f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})")
        for name in ("vocab_size", "d_model", "n_heads", "n_layers", "d_ff", "max_len", "chunk_size", "hyper_rank", "knn_k", "svd_every"):
            if int(getattr(self, name)) < 1:
                raise CLSConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("replay_weight", "ewc_strength", "si_strength"):
            if float(getattr(self, name)) < 0:
                raise CLSConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.attn_window is not None and self.attn_window < 1:
            raise CLSConfigError(f"attn_window must be >= 1 or None, got {self.attn_window}")
        for name in ("fast_layers", "knn_layers", "graph_layers"):
            layers = getattr(self, name) or ()
            bad = [i for i in layers if not 0 <= int(i) < self.n_layers]
            if bad:
                raise CLSConfigError(f"{name} {bad} outside 0..{self.n_layers - 1}")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    def has_fast_weights(self, layer: int) -> bool:
        return self.fast_weights and (self.fast_layers is None or layer in self.fast_layers)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "CLSConfig":
        """Build from a (JSON) dict; unknown keys are refused, lists become tuples."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise CLSConfigError(f"unknown CLS config key(s): {', '.join(unknown)}")
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**values)
