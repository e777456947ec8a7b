"""Resonance and re-injection inside ``transformers`` ``generate``: :class:`MomentLogitsProcessor`.

``generate`` calls a logits processor once per new token with the sequence so far
``input_ids (B, T)`` and the next-token ``scores (B, V)``. The token chosen at the previous call
is ``input_ids[:, -1]``, so each call first commits the previous boundary (surprisal, detection,
storage) and then proposes the current one (resonance; where a stored moment resonates, its
distribution is mixed in with weight lambda). Call :meth:`finish` with the returned sequences
to commit the last token and flush the recorder::

    processor = MomentLogitsProcessor(memory)
    out = model.generate(ids, logits_processor=LogitsProcessorList([processor]), ...)
    processor.finish(out)
"""

from __future__ import annotations

import torch
from transformers import LogitsProcessor

from engine.moment.memory import MomentMemory


class MomentLogitsProcessor(LogitsProcessor):
    """Moment memory as a ``LogitsProcessor`` (``reinject=False`` observes and records only)."""

    def __init__(self, memory: MomentMemory, reinject: bool = True) -> None:
        self.memory = memory
        self.reinject = reinject
        self._started = False

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if input_ids.shape[0] != self.memory.batch_size:
            raise ValueError(f"the moment memory was built for batch size {self.memory.batch_size} but generate runs "
                             f"{input_ids.shape[0]} rows (beam search and num_return_sequences > 1 are not supported)")
        if self._started:
            self.memory.commit(input_ids[:, -1])
        self._started = True
        return self.memory.propose(scores, input_ids, reinject=self.reinject)

    def finish(self, sequences: torch.Tensor) -> None:
        """Commit the last generated token ``sequences[:, -1]`` and flush."""
        if self._started:
            self.memory.commit(sequences[:, -1])
            self._started = False
        self.memory.finish()
