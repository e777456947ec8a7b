"""Consolidation of the moment bank: merge near-duplicates, prune old moments never recalled.

Run periodically (every ``flush_every`` tokens, at a flush) and whenever the bank is close to
capacity -- the "offline replay" of seed 000, Part 3 and Part 5.2.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from engine.moment.bank import MomentBank
from engine.moment.divergence import densify, sparse_vs_dense


@dataclass
class ConsolidationResult:
    """What one consolidation did (moment ids, host lists)."""

    merged: list[tuple[int, int]] = field(default_factory=list)
    """``(dead, survivor)`` pairs."""
    pruned: list[int] = field(default_factory=list)
    pruned_ages: list[int] = field(default_factory=list)


def merge_near_duplicates(bank: MomentBank, candidates: torch.Tensor, eps: float, vocab_size: int) -> list[tuple[int, int]]:
    """Merge each candidate slot ``(n,)`` into an older live moment within Hellinger ``eps`` with the same outcome token.

    One batched ``(n, M)`` divergence; the survivor inherits the dead moment's recalls and merge
    count. Returns ``(dead_id, survivor_id)`` pairs in id order.
    """
    if candidates.numel() == 0 or bank.upper == 0:
        return []
    rows = bank.upper
    dense = densify(bank.topk_ids[candidates], bank.q[candidates], vocab_size)
    div = sparse_vs_dense(bank.topk_ids[:rows], bank.q[:rows], dense, "hellinger")
    ids = bank.col("moment_id")[:rows]
    same = bank.col("token_id")[:rows].unsqueeze(0) == bank.col("token_id")[candidates].unsqueeze(1)
    older = ids.unsqueeze(0) < bank.col("moment_id")[candidates].unsqueeze(1)
    div = torch.where(bank.valid[:rows].unsqueeze(0) & same & older, div, float("inf"))
    best, target = div.min(-1)
    pairs: list[tuple[int, int]] = []
    survivor_of: dict[int, int] = {}
    for cand, dist, tgt in zip(candidates.tolist(), best.tolist(), target.tolist()):
        if dist >= eps or not bool(bank.valid[cand]):
            continue
        while tgt in survivor_of:  # the target itself was merged just now
            tgt = survivor_of[tgt]
        survivor_of[cand] = tgt
        for name in ("recalls", "merged"):
            column = bank.col(name)
            column[tgt] += column[cand] + (1 if name == "merged" else 0)
        bank.valid[cand] = False
        pairs.append((int(bank.col("moment_id")[cand]), int(bank.col("moment_id")[tgt])))
    return pairs


def prune(bank: MomentBank, step: int, max_age: int, need_free: int) -> tuple[list[int], list[int]]:
    """Prune live moments never recalled and older than ``max_age``; then, while fewer than
    ``need_free`` rows are free, the least valuable (never recalled first, then least recently
    recalled, oldest first). Returns pruned ``(ids, ages)``.
    """
    rows = bank.upper
    if rows == 0:
        return [], []
    valid = bank.valid[:rows]
    recalls = bank.col("recalls")[:rows]
    born = bank.col("born")[:rows]
    age = step - born
    doomed = valid & (recalls == 0) & (age > max_age)
    live_after = int(valid.sum()) - int(doomed.sum())
    extra = need_free - (bank.capacity - live_after)
    if extra > 0:
        last_use = torch.where(recalls > 0, bank.col("last_recall")[:rows], born)
        score = torch.where(valid & ~doomed, (recalls > 0).long() * (1 << 40) + last_use, torch.iinfo(torch.long).max)
        order = torch.argsort(score)[:extra]
        doomed[order[score[order] < torch.iinfo(torch.long).max]] = True
    slots = torch.nonzero(doomed).squeeze(-1)
    ids = bank.col("moment_id")[slots].tolist()
    ages = age[slots].tolist()
    bank.valid[slots] = False
    return ids, ages


def consolidate(bank: MomentBank, new_slots: torch.Tensor, step: int, eps: float, max_age: int, need_free: int, vocab_size: int) -> ConsolidationResult:
    """Merge ``new_slots`` into older near-duplicates, prune, then compact the bank."""
    bank.sync()
    merged = merge_near_duplicates(bank, new_slots, eps, vocab_size)
    pruned, ages = prune(bank, step, max_age, need_free)
    if merged or pruned:
        bank.compact()
    return ConsolidationResult(merged=merged, pruned=pruned, pruned_ages=ages)
