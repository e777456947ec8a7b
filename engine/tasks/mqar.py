"""Multi-query associative recall (Zoology's MQAR) and its forgetting variant.

MQAR: ``k1 v1 k2 v2 ... kP vP | q q q ...``: P key-value pairs, then every key queried once in a random
order; the target at each query is its value. Token space (``vocab_size`` = 128 by default): keys
``[1, 1+n_keys)``, values ``[1+n_keys, vocab_size)``.

``max_pairs`` draws the number of pairs per batch from ``[n_pairs, max_pairs]``.

Forgetting-MQAR (``rebind > 0``): after the P pairs, ``rebind`` of the keys are bound again to new
values (``k v'`` pairs); the query's target is the *latest* value. ``meta["rebound"] (B, T)`` marks
queries of re-bound keys, ``meta["distance"]`` the distance from the latest binding.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.tasks.base import IGNORE, TaskBatch, distinct, randint, require


@dataclass
class MQARTask:
    """Parameters of MQAR / forgetting-MQAR."""

    n_pairs: int = 8
    max_pairs: int | None = None
    rebind: int = 0
    vocab_size: int = 128
    n_keys: int = 63

    def __post_init__(self) -> None:
        require(self.n_pairs >= 1, "mqar: n_pairs must be >= 1")
        require(self.n_pairs <= self.n_keys, f"mqar: n_pairs ({self.n_pairs}) must be <= n_keys ({self.n_keys})")
        require(self.max_pairs is None or self.n_pairs <= self.max_pairs <= self.n_keys, "mqar: need n_pairs <= max_pairs <= n_keys")
        require(0 <= self.rebind <= (self.max_pairs or self.n_pairs), "mqar: rebind must be between 0 and the number of pairs")
        require(1 + self.n_keys < self.vocab_size - 1, "mqar: vocab_size too small for n_keys")

    @property
    def n_values(self) -> int:
        return self.vocab_size - 1 - self.n_keys

    def make_batch(self, batch_size: int, generator: torch.Generator) -> TaskBatch:
        """``(B, T)`` with ``T = 2 * (P + rebind) + P``; ``P = n_pairs``, or drawn from
        ``[n_pairs, max_pairs]`` per batch when ``max_pairs`` is set (training on a range)."""
        p, r = self.n_pairs, self.rebind
        if self.max_pairs is not None:
            p = int(randint(self.n_pairs, self.max_pairs + 1, (), generator))
            r = min(r, p)
        keys = distinct(self.n_keys, p, batch_size, generator) + 1
        values = randint(0, self.n_values, (batch_size, p), generator) + 1 + self.n_keys
        pair_keys, pair_values = keys, values.clone()
        latest_pos = 2 * torch.arange(p).expand(batch_size, p) + 1  # value position of each key's binding
        rebound = torch.zeros(batch_size, p, dtype=torch.bool)
        rows = torch.arange(batch_size).unsqueeze(1)
        if r:
            which = distinct(p, r, batch_size, generator)  # indices of re-bound pairs
            shift = randint(1, self.n_values, (batch_size, r), generator)  # new value always differs
            new_values = (values.gather(1, which) - 1 - self.n_keys + shift) % self.n_values + 1 + self.n_keys
            pair_keys = torch.cat([keys, keys.gather(1, which)], dim=1)
            pair_values = torch.cat([values, new_values], dim=1)
            values = values.scatter(1, which, new_values)
            latest_pos = latest_pos.scatter(1, which, 2 * (p + torch.arange(r)).expand(batch_size, r) + 1)
            rebound[rows, which] = True
        n_bind = p + r
        inputs = torch.empty(batch_size, 2 * n_bind + p, dtype=torch.long)
        inputs[:, 0 : 2 * n_bind : 2] = pair_keys
        inputs[:, 1 : 2 * n_bind : 2] = pair_values
        order = distinct(p, p, batch_size, generator)
        inputs[:, 2 * n_bind :] = keys.gather(1, order)
        targets = torch.full_like(inputs, IGNORE)
        targets[:, 2 * n_bind :] = values.gather(1, order)
        query_pos = 2 * n_bind + torch.arange(p)
        distance = torch.full_like(inputs, -1)
        distance[:, 2 * n_bind :] = query_pos - latest_pos.gather(1, order)
        rebound_t = torch.zeros_like(inputs, dtype=torch.bool)
        rebound_t[:, 2 * n_bind :] = rebound.gather(1, order)
        meta = {"distance": distance, "rebound": rebound_t, "n_pairs": torch.full((batch_size,), p)}
        return TaskBatch(inputs, targets, self.vocab_size, meta)
