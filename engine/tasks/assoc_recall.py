"""Associative recall in the style of Ba et al. (2016), "Using fast weights to attend to the recent past".

One sequence: ``R`` key-value pairs, two query markers, then one of the keys; the target at that
last position is the value bound to it (``c9k8j3f1??c -> 9``)::

    k1 v1 k2 v2 ... kR vR ? ? kq        (T = 2R + 3)

With ``n_queries = Q > 1`` (more training signal per sequence), Q distinct keys are queried in turn
after the markers (``T = 2R + 2 + Q``), each scored; evaluation uses one query as in the paper.

Token space: 0 unused, 1 = ``?``, keys ``[2, 2 + n_keys)``, values ``[2 + n_keys, 2 + n_keys + n_values)``.
The keys of one sequence are distinct; the values are drawn with replacement. ``meta["distance"]``
is the distance from the queried pair's value token to the query, ``meta["n_pairs"] (B,)`` is R.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.tasks.base import IGNORE, TaskBatch, distinct, randint, require

MARKER = 1


@dataclass
class AssocRecallTask:
    """Parameters: ``n_pairs`` = R; ``n_keys`` >= R distinct keys to draw from; ``n_values`` values.
    With ``max_pairs`` set, each batch draws R uniformly from ``[n_pairs, max_pairs]``."""

    n_pairs: int = 8
    n_keys: int = 128
    n_values: int = 32
    max_pairs: int | None = None
    n_queries: int = 1

    def __post_init__(self) -> None:
        require(self.n_pairs >= 1, "assoc-recall: n_pairs must be >= 1")
        require(self.n_pairs <= self.n_keys, f"assoc-recall: n_pairs ({self.n_pairs}) must be <= n_keys ({self.n_keys})")
        require(self.n_values >= 2, "assoc-recall: n_values must be >= 2")
        require(1 <= self.n_queries <= self.n_pairs, "assoc-recall: need 1 <= n_queries <= n_pairs")
        if self.max_pairs is not None:
            require(self.n_pairs <= self.max_pairs <= self.n_keys, "assoc-recall: need n_pairs <= max_pairs <= n_keys")

    @property
    def vocab_size(self) -> int:
        return 2 + self.n_keys + self.n_values

    def make_batch(self, batch_size: int, generator: torch.Generator) -> TaskBatch:
        """``inputs``/``targets (B, 2R + 2 + Q)``; only the query positions are scored."""
        R = self.n_pairs if self.max_pairs is None else int(randint(self.n_pairs, self.max_pairs + 1, (), generator))
        Q = min(self.n_queries, R)
        keys = distinct(self.n_keys, R, batch_size, generator) + 2
        values = randint(0, self.n_values, (batch_size, R), generator) + 2 + self.n_keys
        which = distinct(R, Q, batch_size, generator)  # (B, Q) queried pairs
        rows = torch.arange(batch_size).unsqueeze(1)
        inputs = torch.empty(batch_size, 2 * R + 2 + Q, dtype=torch.long)
        inputs[:, 0 : 2 * R : 2] = keys
        inputs[:, 1 : 2 * R : 2] = values
        inputs[:, 2 * R : 2 * R + 2] = MARKER
        query_pos = 2 * R + 2 + torch.arange(Q)
        inputs[:, 2 * R + 2 :] = keys.gather(1, which)
        targets = torch.full_like(inputs, IGNORE)
        targets[:, 2 * R + 2 :] = values.gather(1, which)
        distance = torch.full_like(inputs, -1)
        distance[rows, query_pos] = query_pos - (2 * which + 1)
        meta = {"distance": distance, "n_pairs": torch.full((batch_size,), R)}
        return TaskBatch(inputs, targets, self.vocab_size, meta)
