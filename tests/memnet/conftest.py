"""Tiny MemNet configs for the memnet tests."""

from __future__ import annotations

import pytest

from engine.memnet.config import MemNetConfig


@pytest.fixture
def tiny_config() -> MemNetConfig:
    return MemNetConfig(vocab_size=20, d_model=16, n_layers=1, n_attn_heads=2, window=8, chunk_size=4, n_heads=2, n_slots=8, slot_dim=8, top_k=3, bottleneck_dim=8)
