"""DuckDBRecorder.finish() indexes its run: indexed answers equal raw answers, and indexing never costs data."""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.tracing.test_store_rollups import EVENT, assert_same

import tracing.writer
from tracing.store import TraceStore
from tracing.writer import DuckDBRecorder


LIFE_ORDER = ["batch", "memory", "layer", "head", "cell", "born", "died", "cause", "write_weight", "write_gate"]
"""The order of ``TraceStore.lifecycles`` rows, raw (tracing/lifecycles.py) or indexed (lifecycles_rollup.sql)."""


def record(rec: DuckDBRecorder, events, flush_every: int = 7) -> None:
    """``events`` as (step, cell, op, memory, batch) tuples, flushed every ``flush_every`` (several appends)."""
    for i, (step, cell, op, memory, batch) in enumerate(events, start=1):
        rec.events(step=step, op=op, memory=memory, batch=batch, cell=cell, weight=float(cell), gate=0.5)
        rec.cell_states(step=step, memory=memory, batch=batch, cell=cell, usage=float(step))
        if i % flush_every == 0:
            rec.flush()


def answers(store: TraceStore, run_id: str) -> list:
    """The indexed queries' answers (same calls as test_store_rollups.answers, for a writer's run id)."""
    heatmaps = [store.heatmap(run_id, "write"), store.heatmap(run_id, "read", memory="knn", batch=1, max_cells=10),
                store.heatmap(run_id, "usage", memory="slot")]
    return [
        store.lifecycles(run_id), store.lifecycles(run_id, memory="knn"),
        store.event_counts(run_id), store.event_counts(run_id, batch=1), store.event_counts(run_id, start=3, stop=9),
        *[(h.frame, h.cell_bin, h.step_bin, h.n_cells, h.n_steps, h.sampled) for h in heatmaps],
    ]


def raw_copy(path: Path) -> TraceStore:
    """A copy of the trace with its index registry emptied: its store answers from the raw tables."""
    copy = path.with_name(path.stem + "_raw.duckdb")
    shutil.copyfile(path, copy)
    con = duckdb.connect(str(copy))
    con.execute("DELETE FROM memscope_rollups")
    con.close()
    store = TraceStore(copy)
    assert store.info()["indexed_runs"] == 0
    return store


def assert_indexed_like_raw(path: Path, run_id: str) -> None:
    store = TraceStore(path)
    assert store.info()["indexed_runs"] == 1
    for indexed, raw in zip(answers(store, run_id), answers(raw_copy(path), run_id)):
        assert_same(raw, indexed)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(events=st.lists(EVENT, max_size=50))
def test_finished_run_is_indexed_and_answers_like_raw(events):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "t.duckdb"
        with DuckDBRecorder(path, family="memnet", flush_interval=60.0) as rec:
            record(rec, events)
        assert rec.indexed and rec.status == "complete"
        assert_indexed_like_raw(path, rec.run_id)


def test_writes_to_one_cell_at_one_step_list_the_same_indexed_and_raw(trace_path):
    """Ties of ``born`` (several writes to a cell in one step, over several flushes) come in one order."""
    rng = np.random.default_rng(0)
    with DuckDBRecorder(trace_path, family="memnet", flush_interval=60.0) as rec:
        for step in range(30):
            cells = rng.integers(0, 4, 64)
            rec.events(step=step, op="write", memory="slot", cell=cells, weight=rng.random(64, dtype=np.float32))
            if step % 5 == 0:
                rec.events(step=step, op="evict", memory="slot", cell=cells[:3])
                rec.flush()
    indexed, raw = TraceStore(trace_path).lifecycles(rec.run_id), raw_copy(trace_path).lifecycles(rec.run_id)
    assert indexed.duplicated(["cell", "born"]).any()  # the ties this test is about are there
    for lives in (raw, indexed):  # a total order: DuckDB's sort or parallelism cannot reorder ties
        pd.testing.assert_frame_equal(lives, lives.sort_values(LIFE_ORDER, kind="stable").reset_index(drop=True))
    assert_indexed_like_raw(trace_path, rec.run_id)


def test_crashed_run_is_indexed_and_answers_like_raw(trace_path):
    events = [(s, s % 3, op, "slot", 0) for s in range(12) for op in ("write", "read", "evict")]
    with pytest.raises(RuntimeError, match="engine failed"):
        with DuckDBRecorder(trace_path, family="memnet", flush_interval=60.0) as rec:
            record(rec, events)
            raise RuntimeError("engine failed")
    assert rec.status == "crashed" and rec.indexed
    assert TraceStore(trace_path).runs().set_index("run_id").at[rec.run_id, "status"] == "crashed"
    assert_indexed_like_raw(trace_path, rec.run_id)


def test_index_on_finish_false_leaves_the_run_unindexed(trace_path):
    with DuckDBRecorder(trace_path, family="memnet", index_on_finish=False) as rec:
        record(rec, [(0, 1, "write", "slot", 0)])
    assert not rec.indexed
    assert TraceStore(trace_path).info()["indexed_runs"] == 0


def test_failed_index_warns_and_keeps_data_and_status(trace_path, monkeypatch, caplog):
    def broken_index(*args, **kwargs):
        raise OSError("disk full while indexing")

    monkeypatch.setattr(tracing.writer, "index_runs", broken_index)
    with caplog.at_level(logging.WARNING, logger="tracing.writer"):
        with DuckDBRecorder(trace_path, family="memnet") as rec:
            record(rec, [(0, 1, "write", "slot", 0), (3, 1, "evict", "slot", 0)])
    assert rec.status == "complete" and not rec.indexed
    assert "not indexed" in caplog.text and "disk full while indexing" in caplog.text
    store = TraceStore(trace_path)
    assert store.info()["indexed_runs"] == 0
    assert store.runs().set_index("run_id").at[rec.run_id, "status"] == "complete"
    assert store.lifecycles(rec.run_id)[["cell", "born", "died", "cause"]].values.tolist() == [[1, 0, 3, "evict"]]
