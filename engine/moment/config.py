"""Every knob of the moment memory in one dataclass (units: nats for divergences and surprisal)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class FixedThresholds:
    """Fixed thresholds (nats, except ``topk_shift`` in [0, 1])."""

    surprisal: float = 7.0
    entropy_delta: float = 2.0
    kl: float = 3.0
    topk_shift: float = 1.0


@dataclass
class MomentConfig:
    """Configuration of detection, storage, resonance, re-injection and consolidation.

    - ``threshold_mode``: ``"fixed"`` (``fixed``) or ``"adaptive"`` (a signal fires when it exceeds
      ``mean + gamma * std`` of its last ``window`` values, as EM-LLM does with surprisal).
    - ``triggers``: which signals may store a moment (``pinned`` always can).
    - ``k``: top-k size of a signature; ``capacity``: bank rows.
    - ``divergence``: ``"hellinger"``, ``"js"`` or ``"kl"`` (KL(stored || current)).
    - ``resonance_threshold``: a stored moment resonates when its divergence is below this
      (defaults 0.7 / lambda 0.35: best on validation entity documents, docs/results/moment.md).
    - ``lam``: weight lambda of the stored distribution mixed into the next-token probabilities.
    - ``outcome_weight``: beta, the share of the re-injected distribution given to the token that
      actually followed the stored moment (the rest is the stored top-k distribution).
    - ``min_age``: moments younger than this many tokens do not resonate (no self-echo).
    - ``merge_eps``: near-duplicates (divergence below it, same outcome token) are merged.
    - ``prune_age``: never-recalled moments older than this many tokens are pruned.
    - ``flush_every``: tokens between flushes (one host sync) and consolidation checks.
    - ``compile``: ``torch.compile`` the per-token math (fewer kernel launches: for GPUs, where
      launches dominate; the search then always reads all ``capacity`` rows, a fixed shape).
    """

    threshold_mode: str = "adaptive"
    fixed: FixedThresholds = field(default_factory=FixedThresholds)
    gamma: float = 2.0
    window: int = 128
    min_history: int = 8
    triggers: tuple[str, ...] = ("surprisal", "entropy_spike", "entropy_dip", "kl_shift", "topk_shift")
    k: int = 32
    capacity: int = 4096
    divergence: str = "hellinger"
    resonance_threshold: float = 0.7
    lam: float = 0.35
    outcome_weight: float = 0.5
    n_hits: int = 3
    min_age: int = 16
    merge_eps: float = 0.05
    prune_age: int = 100_000
    flush_every: int = 32
    hash_window: int = 8
    text_window: int = 12
    store_embedding: bool = False
    compile: bool = False

    def __post_init__(self) -> None:
        if self.threshold_mode not in ("fixed", "adaptive"):
            raise ValueError(f"threshold_mode must be 'fixed' or 'adaptive', not {self.threshold_mode!r}")
        if self.divergence not in ("hellinger", "js", "kl"):
            raise ValueError(f"divergence must be 'hellinger', 'js' or 'kl', not {self.divergence!r}")
        unknown = set(self.triggers) - {"surprisal", "entropy_spike", "entropy_dip", "kl_shift", "topk_shift"}
        if unknown:
            raise ValueError(f"unknown trigger(s) {sorted(unknown)}")
        if not 0.0 <= self.lam <= 1.0 or not 0.0 <= self.outcome_weight <= 1.0:
            raise ValueError("lam and outcome_weight must lie in [0, 1]")
        if self.k < 1 or self.capacity < 1 or self.flush_every < 1:
            raise ValueError("k, capacity and flush_every must be positive")
        if isinstance(self.fixed, dict):
            self.fixed = FixedThresholds(**self.fixed)
        self.triggers = tuple(self.triggers)

    def to_dict(self) -> dict:
        """A JSON-ready copy."""
        return asdict(self)
