"""Memory statistics of an evaluation, from hand-made event frames."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from engine.memnet import analysis


def frame(rows):
    return pd.DataFrame(rows, columns=["step", "batch", "head", "cell", "op", "weight"])


def test_read_sparsity_by_hand():
    events = frame([
        (0, 0, 0, 1, "read", 0.7), (0, 0, 0, 2, "read", 0.2), (0, 0, 0, 3, "read", 0.1),
        (1, 0, 0, 1, "read", 0.4), (1, 0, 0, 2, "read", 0.4), (1, 0, 0, 3, "read", 0.2),
    ])
    out = analysis.read_sparsity(events)
    assert out["read_top1_mass"] == pytest.approx((0.7 + 0.4) / 2)
    # 90% of read 0 needs 0.7 + 0.2 (2 slots); read 1 needs 0.4 + 0.4 + 0.2 (3 slots)
    assert out["read_slots_90"] == pytest.approx(2.5)
    h0 = -(0.7 * math.log(0.7) + 0.2 * math.log(0.2) + 0.1 * math.log(0.1))
    h1 = -(2 * 0.4 * math.log(0.4) + 0.2 * math.log(0.2))
    assert out["read_entropy"] == pytest.approx((h0 + h1) / 2, rel=1e-6)


def test_usage_entropy_uniform_and_collapsed():
    spread = frame([(t, 0, 0, t % 4, "read", 1.0) for t in range(8)])
    assert analysis.usage_entropy(spread, n_slots=4) == pytest.approx(1.0)
    collapsed = frame([(t, 0, 0, 2, "read", 1.0) for t in range(8)])
    assert analysis.usage_entropy(collapsed, n_slots=4) == pytest.approx(0.0, abs=1e-9)


def test_write_statistics_and_lifetimes():
    events = frame([
        (0, 0, 0, 5, "write", 0.9),
        (3, 0, 0, 6, "write", 0.8),
        (10, 0, 0, 5, "evict", None), (10, 0, 0, 5, "write", 0.7),
        (12, 0, 0, 6, "decay", None),
    ])
    w = analysis.write_statistics(events, n_tokens=20, n_banks=1)
    assert w["write_frequency"] == pytest.approx(3 / 20)
    assert w["slot_reuse"] == pytest.approx(3 / 2)
    assert w["eviction_fraction"] == pytest.approx(1 / 3)
    life = analysis.slot_lifetimes(events, last_step=19)
    # cell 5: born 0, evicted 10 -> 10; cell 6: born 3, decayed 12 -> 9; cell 5 again: born 10, censored at 19 -> 9
    assert life["lifetime_mean_observed"] == pytest.approx(9.5)
    assert life["lifetime_mean_lower_bound"] == pytest.approx((10 + 9 + 9) / 3)
    assert life["lifetime_censored_fraction"] == pytest.approx(1 / 3)
