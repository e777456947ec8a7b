"""MemNet's config dataclass (every field is a CLI override: ``--set model.n_slots=64``)."""

from __future__ import annotations

from dataclasses import dataclass


class MemNetConfigError(ValueError):
    """A MemNet config that cannot work (zero slots, top-k larger than the slots, ...)."""


@dataclass
class MemNetConfig:
    """Sizes, memory policy and loss weights of :class:`engine.memnet.model.MemNet`.

    Memory: ``n_heads`` banks of ``n_slots x slot_dim``; reads and write-updates address the
    ``top_k`` most cosine-similar slots; the memory is read and written once per ``chunk_size``
    tokens (``1`` = every token; within a chunk the controller's attention window carries the
    context, so ``window >= chunk_size``). A write whose weight is under ``write_floor`` allocates
    nothing (no age reset, no ``write`` event); with ``hard_writes`` it is dropped altogether, so
    writes are sparse: most tokens write nothing. With ``slot_keys`` every slot also stores a key
    (the unit write key of what was written there, blended with the same weights as the content) and
    reads and addressed updates compare their keys with these slot keys instead of with the contents:
    the key-value memory of Kaiser et al. 2017, where a fact is found by what it is about while the
    content carries what is recalled.
    """

    vocab_size: int = 64
    d_model: int = 64
    token_shift: bool = False
    n_layers: int = 2
    n_attn_heads: int = 4
    window: int = 32
    chunk_size: int = 16
    n_heads: int = 2
    n_slots: int = 32
    slot_dim: int = 32
    top_k: int = 4
    strength_init: float = 1.7
    bottleneck_dim: int = 16
    usage_decay: float = 0.99
    usage_weight: float = 1.0
    age_noise: float = 1.0
    write_floor: float = 0.1
    hard_writes: bool = False
    slot_keys: bool = False
    write_gate_init: float = 0.5
    alloc_gate_init: float = 0.5
    decay_floor: float = 0.01
    decay_init: float = 0.9995
    decay: bool = True
    erase: bool = True
    util_weight: float = 0.01
    pressure_weight: float = 0.01
    read_entropy_weight: float = 0.0

    def __post_init__(self) -> None:
        checks = [
            (self.n_slots > 0, f"n_slots must be positive (got {self.n_slots})"),
            (self.n_heads > 0, f"n_heads must be positive (got {self.n_heads})"),
            (self.slot_dim > 0, f"slot_dim must be positive (got {self.slot_dim})"),
            (self.top_k > 0, f"top_k must be positive (got {self.top_k})"),
            (self.top_k <= self.n_slots, f"top_k ({self.top_k}) must not exceed n_slots ({self.n_slots})"),
            (self.chunk_size > 0, f"chunk_size must be positive (got {self.chunk_size})"),
            (self.chunk_size <= self.n_slots, f"chunk_size ({self.chunk_size}) must not exceed n_slots ({self.n_slots})"),
            (self.window >= self.chunk_size, f"window ({self.window}) must be >= chunk_size ({self.chunk_size})"),
            (self.d_model % self.n_attn_heads == 0, "d_model must be divisible by n_attn_heads"),
            (0.0 < self.decay_init < 1.0, "decay_init must be in (0, 1)"),
            (0.0 < self.write_gate_init < 1.0, "write_gate_init must be in (0, 1)"),
            (0.0 < self.alloc_gate_init < 1.0, "alloc_gate_init must be in (0, 1)"),
            (self.strength_init > 1.0, "strength_init must be > 1 (key strengths are 1 + softplus)"),
            (self.vocab_size > 1, "vocab_size must be > 1"),
        ]
        for ok, message in checks:
            if not ok:
                raise MemNetConfigError(f"memnet: {message}")
