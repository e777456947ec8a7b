"""Memory statistics of an evaluation, computed from the recorded events (what the trace holds).

Every function takes the ``memory_events`` rows of one episode as a pandas DataFrame
(columns ``step, batch, head, cell, op, weight``).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

_READ_KEYS = ["batch", "head", "step"]


def read_sparsity(events: pd.DataFrame, mass: float = 0.9) -> dict[str, float]:
    """Mean top-1 read weight, mean number of slots covering ``mass`` of a read, mean read entropy (nats)."""
    reads = events[events["op"] == "read"].sort_values(_READ_KEYS + ["weight"], ascending=[True, True, True, False])
    if reads.empty:
        return {}
    w = reads["weight"].to_numpy(dtype=np.float64)
    groups = reads.groupby(_READ_KEYS, sort=False)
    cumulative = groups["weight"].cumsum().to_numpy()
    before = cumulative - w  # mass covered before this slot
    needed = pd.Series(before < mass - 1e-6, index=reads.index).groupby([reads[k] for k in _READ_KEYS]).sum()
    entropy = pd.Series(-w * np.log(w + 1e-12), index=reads.index).groupby([reads[k] for k in _READ_KEYS]).sum()
    return {
        "read_top1_mass": float(groups["weight"].max().mean()),
        "read_slots_90": float(needed.mean()),
        "read_entropy": float(entropy.mean()),
    }


def usage_entropy(events: pd.DataFrame, n_slots: int) -> float:
    """Entropy of the read mass over slots, per (batch, head) bank, normalised by ``log N`` and averaged
    (1 = reads spread over every slot; the quantity L_util maximises)."""
    reads = events[events["op"] == "read"]
    if reads.empty or n_slots < 2:
        return float("nan")
    mass = reads.groupby(["batch", "head", "cell"])["weight"].sum()
    p = mass / mass.groupby(level=[0, 1]).transform("sum")
    h = (-(p * np.log(p + 1e-12))).groupby(level=[0, 1]).sum()
    return float((h / math.log(n_slots)).mean())


def write_statistics(events: pd.DataFrame, n_tokens: int, n_banks: int) -> dict[str, float]:
    """Write frequency (allocations per token per bank), slot reuse (allocations per distinct slot
    written) and the fraction of allocations that evicted live content."""
    writes = events[events["op"] == "write"]
    evicts = events[events["op"] == "evict"]
    distinct = len(writes.drop_duplicates(["batch", "head", "cell"]))
    return {
        "write_frequency": len(writes) / max(n_tokens * n_banks, 1),
        "slot_reuse": len(writes) / distinct if distinct else 0.0,
        "eviction_fraction": len(evicts) / len(writes) if len(writes) else 0.0,
    }


def slot_lifetimes(events: pd.DataFrame, last_step: int) -> dict[str, float]:
    """Lifetimes (tokens) from each ``write`` to the death of that content (``evict``/``decay``);
    content alive at ``last_step`` is censored. Returns the mean observed lifetime, the mean with
    censored lives counted up to ``last_step`` (a lower bound) and the censored fraction."""
    life = events[events["op"].isin(["write", "evict", "decay"])].copy()
    if (life["op"] == "write").sum() == 0:
        return {}
    life["order"] = life["op"].map({"evict": 0, "decay": 0, "write": 1})
    life = life.sort_values(["batch", "head", "cell", "step", "order"])
    same = ["batch", "head", "cell"]
    nxt_step = life.groupby(same)["step"].shift(-1)
    nxt_op = life.groupby(same)["op"].shift(-1)
    births = life["op"] == "write"
    died = births & nxt_op.isin(["evict", "decay"])
    observed = (nxt_step[died] - life["step"][died]).to_numpy(dtype=np.float64)
    censored = (last_step - life["step"][births & ~died]).to_numpy(dtype=np.float64)
    out = {"lifetime_censored_fraction": len(censored) / max(births.sum(), 1)}
    if len(observed):
        out["lifetime_mean_observed"] = float(observed.mean())
    out["lifetime_mean_lower_bound"] = float(np.concatenate([observed, censored]).mean())
    return out


def memory_metrics(events: pd.DataFrame, *, n_tokens: int, n_banks: int, n_slots: int, last_step: int) -> dict[str, float]:
    """All of the above in one dict (metric name -> value)."""
    out: dict[str, float] = {}
    out.update(read_sparsity(events))
    out["usage_entropy"] = usage_entropy(events, n_slots)
    out.update(write_statistics(events, n_tokens, n_banks))
    out.update(slot_lifetimes(events, last_step))
    return out
