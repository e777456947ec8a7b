"""Continual learning under distribution shift: a sequence of recall tasks whose inputs shift.

Task ``s`` (of ``n_tasks``) is long-range recall over its *own* keys and distractors and its own
distance range ``[min_distance * 2**s, max_distance * 2**s]``; the values (the answers) are shared.
A learner trains on task 0, 1, ... in turn and is evaluated on every earlier task after each one
(the forgetting curves). Token space: 1 = ``Q``, values ``[2, 2+n_values)``, then per task a block
of ``n_keys`` keys and ``n_distractors`` distractors.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.tasks.base import IGNORE, TaskBatch, distinct, randint, require
from engine.tasks.recall import QUERY


@dataclass
class ContinualTask:
    """Parameters; ``task_id`` selects which task of the sequence a batch comes from."""

    task_id: int = 0
    n_tasks: int = 4
    n_facts: int = 3
    n_keys: int = 8
    n_values: int = 16
    n_distractors: int = 8
    min_distance: int = 4
    max_distance: int = 16
    lead: int = 2

    def __post_init__(self) -> None:
        require(self.n_tasks >= 1, "continual: n_tasks must be >= 1")
        require(0 <= self.task_id < self.n_tasks, f"continual: task_id must be in [0, {self.n_tasks})")
        require(1 <= self.n_facts <= self.n_keys, "continual: need 1 <= n_facts <= n_keys")
        require(1 <= self.min_distance <= self.max_distance, "continual: need 1 <= min_distance <= max_distance")

    @property
    def vocab_size(self) -> int:
        return 2 + self.n_values + self.n_tasks * (self.n_keys + self.n_distractors)

    def block_base(self, task_id: int) -> int:
        return 2 + self.n_values + task_id * (self.n_keys + self.n_distractors)

    def make_batch(self, batch_size: int, generator: torch.Generator) -> TaskBatch:
        s = self.task_id
        lo, hi = self.min_distance * 2**s, self.max_distance * 2**s
        d = int(randint(lo, hi + 1, (), generator))
        f = self.n_facts
        filler = max(d - 2, 0)
        length = self.lead + 2 * f + filler + 2 * f
        base = self.block_base(s)
        inputs = randint(0, self.n_distractors, (batch_size, length), generator) + base + self.n_keys
        targets = torch.full_like(inputs, IGNORE)
        distance = torch.full_like(inputs, -1)
        keys = distinct(self.n_keys, f, batch_size, generator) + base
        values = randint(0, self.n_values, (batch_size, f), generator) + 2
        fact_pos = self.lead + 2 * torch.arange(f)
        inputs[:, fact_pos] = keys
        inputs[:, fact_pos + 1] = values
        order = distinct(f, f, batch_size, generator)
        query_key_pos = self.lead + 2 * f + filler + 2 * torch.arange(f) + 1
        inputs[:, query_key_pos - 1] = QUERY
        rows = torch.arange(batch_size).unsqueeze(1)
        inputs[rows, query_key_pos] = keys.gather(1, order)
        targets[rows, query_key_pos] = values.gather(1, order)
        distance[rows, query_key_pos] = query_key_pos - (fact_pos + 1)[order]
        meta = {"distance": distance, "task_id": torch.full((batch_size,), s)}
        return TaskBatch(inputs, targets, self.vocab_size, meta)
