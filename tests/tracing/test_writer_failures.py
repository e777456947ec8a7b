"""A flush that cannot reach the file loses nothing: data is kept, retried, and finish() says when it fails."""

from __future__ import annotations

import time

import duckdb
import numpy as np
import pytest

from tracing.connection import retry_while_locked
from tracing.errors import TraceLockedError
from tracing.writer import DuckDBRecorder, FlushError


def hold(path) -> duckdb.DuckDBPyConnection:
    """A read-only connection in this process: it blocks the writer's read-write attach until closed.

    Taken with the lock retry: the writer may be in the middle of a flush right now."""
    return retry_while_locked(path, 10.0, lambda: duckdb.connect(str(path), read_only=True))


def wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


def stored(path) -> tuple[int, str]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return (
            con.execute("SELECT count(*) FROM memory_events").fetchone()[0],
            con.execute("SELECT status FROM runs").fetchone()[0],
        )
    finally:
        con.close()


def test_failed_flushes_keep_data_and_retry(trace_path, caplog):
    rec = DuckDBRecorder(trace_path, family="memnet", flush_interval=0.05, lock_timeout=0.1)
    rec.events(step=0, op="write", memory="slot", cell=np.arange(100))
    wait_for(lambda: rec.flushed_rows == 100)
    # A read-only connection in this process blocks the writer's read-write open
    # ("different configuration"), exactly like a reader holding the file too long.
    holder = hold(trace_path)
    try:
        failures_before = rec.failures
        rec.events(step=1, op="write", memory="slot", cell=np.arange(250))
        wait_for(lambda: rec.failures >= failures_before + 3)
        assert isinstance(rec.error, TraceLockedError)
        assert any("3 flushes" in r.getMessage() and r.levelname == "WARNING" for r in caplog.records)
        rec.events(step=2, op="write", memory="slot", cell=np.arange(50))
        wait_for(lambda: rec.unwritten_rows() == 300 and rec.pending_rows() == 0)  # drained, kept
        assert rec.flushed_rows == 100
        assert holder.execute("SELECT count(*) FROM memory_events").fetchone()[0] == 100
    finally:
        holder.close()
    wait_for(lambda: rec.flushed_rows == 400)
    assert rec.failures == 0 and rec.error is None and rec.unwritten_rows() == 0
    rec.finish()
    assert stored(trace_path) == (400, "complete")  # nothing lost, nothing written twice


def test_finish_raises_while_the_file_stays_held_then_succeeds(trace_path):
    rec = DuckDBRecorder(trace_path, family="memnet", flush_interval=30.0, lock_timeout=0.1)
    rec.events(step=0, op="write", memory="slot", cell=np.arange(70))
    holder = hold(trace_path)
    try:
        with pytest.raises(FlushError, match="70 rows"):
            rec.finish()
        assert rec.status == "running" and rec.unwritten_rows() == 70
    finally:
        holder.close()
    rec.finish()
    assert rec.status == "complete"
    assert stored(trace_path) == (70, "complete")


def test_flush_raises_flush_error_and_keeps_rows(trace_path):
    rec = DuckDBRecorder(trace_path, family="memnet", flush_interval=30.0, lock_timeout=0.1)
    rec.events(step=0, op="read", memory="slot", cell=np.arange(5))
    holder = hold(trace_path)
    try:
        with pytest.raises(FlushError, match="flush of run"):
            rec.flush()
    finally:
        holder.close()
    rec.flush()
    assert rec.flushed_rows == 5
    rec.finish()
    assert stored(trace_path) == (5, "complete")


def test_rows_that_cannot_convert_are_reported_by_finish(trace_path):
    rec = DuckDBRecorder(trace_path, family="memnet", flush_interval=30.0)
    rec.events(step=0, op="read", memory="slot", cell=np.arange(4))
    rec.flush()
    rec.events(step=1, op="read", memory="slot", cell=["not", "cells"])  # strings for a BIGINT column
    with pytest.raises(FlushError, match="2 recorded rows were dropped"):
        rec.finish()
    assert stored(trace_path) == (4, "complete")


def test_columns_of_different_lengths_are_refused_at_the_call(trace_path):
    rec = DuckDBRecorder(trace_path, family="memnet")
    with pytest.raises(ValueError, match="disagree"):
        rec.events(step=0, op="read", memory="slot", cell=np.arange(3), weight=np.ones(2))
    with pytest.raises(ValueError, match="disagree"):
        rec.steps(step=np.arange(3), topk_ids=np.ones((2, 4)))
    rec.events(step=0, op="read", memory="slot", cell=np.arange(3), weight=np.ones(1))  # length 1 broadcasts
    rec.finish()
    assert stored(trace_path) == (3, "complete")


def test_a_file_that_is_not_a_trace_is_refused_and_left_alone(tmp_path):
    from tracing.errors import NotATraceError

    foreign = tmp_path / "other.duckdb"
    con = duckdb.connect(str(foreign))
    con.execute("CREATE TABLE customers (id INTEGER)")
    con.close()
    before = foreign.read_bytes()
    with pytest.raises(NotATraceError, match="not a memscope trace"):
        DuckDBRecorder(foreign, family="memnet")
    assert foreign.read_bytes() == before
