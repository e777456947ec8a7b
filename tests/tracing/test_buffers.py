"""Slice buffers are lent until DuckDB lets go of them: a flush of many slices cycles through a few,
rows survive the reuse, a failed flush builds its slices again from the rows it kept, and the process
keeps a bounded store of free buffers between recorders."""

from __future__ import annotations

import threading

import duckdb
import numpy as np
import pyarrow as pa
import pytest
import torch

import tracing.writer as writer
from tracing import buffers
from tracing.buffers import BufferPool
from tracing.flushing import SLICE_ROWS
from tracing.writer import DuckDBRecorder


def test_lent_buffers_come_back_once_sealed_and_every_view_is_gone():
    pool = BufferPool(8)
    lent = pool.take("stream_events", 5)
    wrapped = pa.array(lent.view("cell", 5), pa.int32())  # what DuckDB holds while it appends
    lent.seal()
    assert pool.take("stream_events", 8) is not lent  # still read through `wrapped`
    del wrapped
    assert pool.take("stream_events", 8) is lent
    unsealed = pool.take("stream_events", 3)
    unsealed.view("step", 3)  # gone at once, but the build is not over
    assert pool.take("stream_events", 8) is not unsealed


def test_a_view_dropped_on_another_thread_returns_the_buffers():
    pool = BufferPool(8)
    lent = pool.take("stream_events", 8)
    held = [pa.array(lent.view("weight", 8), pa.float32())]
    lent.seal()
    thread = threading.Thread(target=held.clear)  # as a DuckDB thread releasing a batch
    thread.start()
    thread.join()
    assert pool.take("stream_events", 8) is lent


def test_slices_larger_than_the_pool_get_buffers_of_their_own():
    pool = BufferPool(8)
    big = pool.take("stream_events", 9)
    assert big.capacity == 9
    big.view("cell", 9)
    big.seal()
    assert pool.take("stream_events", 9) is not big and pool.take("stream_events", 8) is not big


def test_a_flush_of_many_slices_cycles_through_a_few_buffers(trace_path):
    slices = 10
    with DuckDBRecorder(trace_path, family="memnet", max_buffered_rows=10**9, index_on_finish=False) as rec:
        per_call = SLICE_ROWS // 4
        for step in range(4 * slices):
            rec.events(step=step, op="read", memory="slot", cell=torch.arange(per_call) + step, weight=torch.full((per_call,), step / 8))
        rec.flush()
        free = rec._pool._free["stream_events"]
        assert 1 <= len(free) <= 3  # DuckDB holds at most two slices of an INSERT at a time
    con = duckdb.connect(str(trace_path), read_only=True)
    count, bad = con.execute("SELECT count(*), count(*) FILTER (cell - step >= ? OR weight <> step / 8) FROM memory_events",
                             [per_call]).fetchone()
    con.close()
    assert (count, bad) == (slices * SLICE_ROWS, 0)


def test_rows_of_earlier_flushes_survive_buffer_reuse(trace_path):
    """Three flushes through one writer reuse the same lent arrays; each flush's rows stay as written."""
    with DuckDBRecorder(trace_path, family="memnet", model="m") as rec:
        for flush in range(3):
            for step in range(50):
                rec.events(step=100 * flush + step, op="write", memory="slot", cell=torch.arange(4) + 10 * flush,
                           weight=torch.full((4,), float(flush)))
            rec.flush()
    con = duckdb.connect(str(trace_path), read_only=True)
    rows = con.execute("SELECT step, cell, weight FROM stream_events ORDER BY step, cell").fetchall()
    con.close()
    assert len(rows) == 3 * 50 * 4
    for step, cell, weight in rows:
        flush = step // 100
        assert weight == float(flush) and 10 * flush <= cell < 10 * flush + 4


def test_a_flush_that_fails_after_its_slices_were_appended_builds_them_again(trace_path, monkeypatch):
    calls = []
    real = writer.register_streams

    def fail_once(con, rows):
        calls.append(len(rows))
        if len(calls) == 1:
            raise duckdb.IOException("disk full (simulated)")
        real(con, rows)

    monkeypatch.setattr(writer, "register_streams", fail_once)
    rec = DuckDBRecorder(trace_path, family="memnet", index_on_finish=False)
    cells = np.arange(3 * SLICE_ROWS // 2)
    rec.events(step=7, op="write", memory="slot", head=1, cell=cells, weight=np.linspace(0, 1, len(cells), dtype=np.float32))
    with pytest.raises(writer.FlushError, match="disk full"):
        rec.flush()  # both slices were built and appended, then the transaction rolled back
    rec.events(step=8, op="erase", memory="slot", cell=cells[:5])  # the next flush reuses the same buffers
    rec.finish()
    con = duckdb.connect(str(trace_path), read_only=True)
    stored = con.execute("SELECT step, head, cell, weight FROM memory_events WHERE step = 7 ORDER BY cell").fetchnumpy()
    assert con.execute("SELECT count(*) FROM memory_events WHERE step = 8").fetchone() == (5,)
    con.close()
    assert np.array_equal(stored["cell"], cells) and set(stored["head"]) == {1}
    assert np.allclose(stored["weight"], np.linspace(0, 1, len(cells), dtype=np.float32))


def test_a_finished_pool_s_buffers_serve_the_next_pool_up_to_the_bound(monkeypatch):
    monkeypatch.setattr(buffers, "RETAINED_ROWS", 16)
    monkeypatch.setattr(buffers, "_RETAINED", buffers._RetainedBuffers())
    first = BufferPool(8)
    taken = [first.take("stream_events", 8) for _ in range(3)]
    for lent in taken:
        lent.seal()
    first.clear()  # a recorder finishing: two of the three fit the bound of 16 rows
    second = BufferPool(8)
    again = [second.take("stream_events", 8) for _ in range(3)]
    assert sum(any(b is t for t in taken) for b in again) == 2
    assert all(b.scratch is second._scratch for b in again)  # fills use the new pool's scratch
    assert buffers._RETAINED.take("stream_events", 8) is None
