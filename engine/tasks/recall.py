"""Long-range recall: key-value facts among distractors, queried at a controlled distance ``d``.

Layout of one sequence (``|`` marks regions, not tokens)::

    distractors | k1 v1 k2 v2 ... kF vF | distractors (filler) | Q ka  Q kb ... (one query per fact)

Token space (``vocab_size`` = 64 by default): 0 unused, 1 = ``Q`` (query marker), keys
``[2, 2+n_keys)``, values ``[2+n_keys, 2+n_keys+n_values)``, distractors the rest. The target at each
query's key token is the fact's value; everything else is :data:`IGNORE`. ``meta["distance"]`` is the
exact distance from the fact's value token to the query's key token; the filler is sized so that the
*first* query sits ``distance`` tokens after the *last* fact (so every distance is ``>= d``). Training
draws ``d`` per batch, log-uniformly from ``[min_distance, max_distance]``, unless ``distance`` is set.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from engine.tasks.base import IGNORE, TaskBatch, distinct, randint, require

QUERY = 1


@dataclass
class RecallTask:
    """Parameters of the recall task (all seeded by the caller's generator)."""

    distance: int | None = None
    min_distance: int = 8
    max_distance: int = 256
    n_facts: int = 4
    n_keys: int = 16
    n_values: int = 16
    vocab_size: int = 64
    lead: int = 4

    def __post_init__(self) -> None:
        require(self.n_facts >= 1, "recall: n_facts must be >= 1")
        require(self.n_facts <= self.n_keys, "recall: n_facts must be <= n_keys")
        require(2 + self.n_keys + self.n_values < self.vocab_size, "recall: vocab_size leaves no distractor tokens")
        low = self.distance if self.distance is not None else self.min_distance
        high = self.distance if self.distance is not None else self.max_distance
        require(1 <= low <= high, "recall: distances must satisfy 1 <= min_distance <= max_distance")

    @property
    def key_base(self) -> int:
        return 2

    @property
    def value_base(self) -> int:
        return 2 + self.n_keys

    @property
    def distractor_base(self) -> int:
        return 2 + self.n_keys + self.n_values

    def sample_distance(self, generator: torch.Generator) -> int:
        if self.distance is not None:
            return self.distance
        lo, hi = math.log(self.min_distance), math.log(self.max_distance)
        u = torch.rand((), generator=generator).item()
        return int(round(math.exp(lo + (hi - lo) * u)))

    def make_batch(self, batch_size: int, generator: torch.Generator) -> TaskBatch:
        """``inputs``/``targets`` of shape ``(B, T)`` with ``T = lead + 2F + (d - 1) + 2F``."""
        d = self.sample_distance(generator)
        f = self.n_facts
        filler = max(d - 2, 0)  # first query key sits at last value + 1 + filler + 1
        length = self.lead + 2 * f + filler + 2 * f
        inputs = randint(self.distractor_base, self.vocab_size, (batch_size, length), generator)
        targets = torch.full_like(inputs, IGNORE)
        distance = torch.full_like(inputs, -1)
        keys = distinct(self.n_keys, f, batch_size, generator) + self.key_base
        values = randint(0, self.n_values, (batch_size, f), generator) + self.value_base
        fact_pos = self.lead + 2 * torch.arange(f)  # key positions; value at +1
        inputs[:, fact_pos] = keys
        inputs[:, fact_pos + 1] = values
        order = distinct(f, f, batch_size, generator)  # which fact each query asks
        query_start = self.lead + 2 * f + filler
        query_key_pos = query_start + 2 * torch.arange(f) + 1
        inputs[:, query_key_pos - 1] = QUERY
        rows = torch.arange(batch_size).unsqueeze(1)
        inputs[rows, query_key_pos] = keys.gather(1, order)
        targets[rows, query_key_pos] = values.gather(1, order)
        distance[rows, query_key_pos] = query_key_pos - (fact_pos + 1)[order]
        meta = {"distance": distance, "nominal_distance": torch.full((batch_size,), d)}
        return TaskBatch(inputs, targets, self.vocab_size, meta)
