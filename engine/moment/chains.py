"""Temporal chains: the ordered moments of an episode as its fingerprint (seed 000, Part 4.5).

Each distribution depends on all earlier tokens, so the sequence of stored signatures traces how
the model's state evolved. A chain keeps its own copy of the signatures (pruning the bank does not
break it); two chains are compared by dynamic time warping over the Hellinger distances of their
moments, so an episode is recognised in a new sequence even when moments are missing or extra.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from engine.moment.divergence import sparse_vs_sparse
from engine.moment.signature import match_distribution


@dataclass(frozen=True)
class EpisodeChain:
    """Moments of one episode in order: ``moment_ids (n,)``, ``steps (n,)``, ``topk_ids (n, k)``, ``q (n, k)``."""

    moment_ids: np.ndarray
    steps: np.ndarray
    topk_ids: np.ndarray
    q: np.ndarray

    @classmethod
    def empty(cls, k: int) -> "EpisodeChain":
        return cls(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, k), np.int64), np.zeros((0, k), np.float32))

    def __len__(self) -> int:
        return int(self.moment_ids.shape[0])

    def extend(self, moment_ids: np.ndarray, steps: np.ndarray, topk_ids: np.ndarray, topk_probs: np.ndarray) -> "EpisodeChain":
        """A new chain with ``n`` more moments appended (``topk_probs`` are renormalised)."""
        q = match_distribution(torch.as_tensor(np.asarray(topk_probs, np.float32))).numpy() if len(moment_ids) else np.zeros((0, self.q.shape[1]), np.float32)
        return EpisodeChain(np.concatenate([self.moment_ids, np.asarray(moment_ids, np.int64)]), np.concatenate([self.steps, np.asarray(steps, np.int64)]),
                            np.concatenate([self.topk_ids, np.asarray(topk_ids, np.int64).reshape(-1, self.topk_ids.shape[1])]),
                            np.concatenate([self.q, q.reshape(-1, self.q.shape[1])]))


@dataclass(frozen=True)
class ChainMatch:
    """DTW alignment of two chains: mean Hellinger distance along the path, and the path ``[(i, j)]``."""

    distance: float
    path: list[tuple[int, int]]


def distance_matrix(a: EpisodeChain, b: EpisodeChain, vocab_size: int) -> np.ndarray:
    """Hellinger distance between every moment of ``a`` and of ``b``: ``(n, m)``, one batched op."""
    d = sparse_vs_sparse(torch.as_tensor(a.topk_ids), torch.as_tensor(a.q), torch.as_tensor(b.topk_ids), torch.as_tensor(b.q), vocab_size)
    return d.numpy().astype(np.float64)


def match_chain(a: EpisodeChain, b: EpisodeChain, vocab_size: int) -> ChainMatch:
    """Dynamic time warping of ``a`` against ``b``; distance = mean cost along the best path (``inf`` if either is empty)."""
    if len(a) == 0 or len(b) == 0:
        return ChainMatch(float("inf"), [])
    cost = distance_matrix(a, b, vocab_size)
    n, m = cost.shape
    acc = np.full((n + 1, m + 1), np.inf)
    acc[0, 0] = 0.0
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            acc[i, j] = cost[i - 1, j - 1] + min(acc[i - 1, j], acc[i, j - 1], acc[i - 1, j - 1])
    path, i, j = [], n, m
    while i > 0 and j > 0:
        path.append((i - 1, j - 1))
        step = int(np.argmin([acc[i - 1, j - 1], acc[i - 1, j], acc[i, j - 1]]))
        i, j = (i - 1, j - 1) if step == 0 else (i - 1, j) if step == 1 else (i, j - 1)
    path.reverse()
    return ChainMatch(float(acc[n, m] / len(path)), path)


def best_episode(episodes: list[EpisodeChain], query: EpisodeChain, vocab_size: int) -> tuple[int, ChainMatch]:
    """The stored episode whose chain matches ``query`` best: ``(index, match)``; ``(-1, inf)`` when none."""
    best = (-1, ChainMatch(float("inf"), []))
    for index, episode in enumerate(episodes):
        match = match_chain(episode, query, vocab_size)
        if match.distance < best[1].distance:
            best = (index, match)
    return best
