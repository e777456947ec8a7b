"""finish() during a background flush: the flush thread commits the rest with the final status in the
same hold of the file (one ATTACH for both), reports each commit after the file is released, and a
failure of that last commit leaves it to finish() to retry."""

from __future__ import annotations

import threading

import duckdb
import numpy as np

import tracing.writer as writer
from tracing.writer import DuckDBRecorder


class BlockedAppend:
    """``append_lean`` that holds the first append until finish() has begun, and fails the calls listed
    in ``fail_calls`` (1-based) once each; counts the writer's flush ATTACHes too."""

    def __init__(self, monkeypatch, fail_calls: tuple[int, ...] = ()) -> None:
        self.entered = threading.Event()
        self.calls = 0
        self.attaches = 0
        self.fail_calls = fail_calls
        self.recorder: DuckDBRecorder | None = None
        real_append, real_attach = writer.append_lean, writer.attach_trace

        def append(con, physical, data):
            self.calls += 1
            if self.calls == 1:
                self.entered.set()
                assert self.recorder is not None
                self.recorder._closing.wait(10)  # finish() has set its status and is waiting
            if self.calls in self.fail_calls:
                raise duckdb.IOException("disk full (simulated)")
            real_append(con, physical, data)

        def attach(con, path, alias, *, create, **options):
            self.attaches += not create  # a flush's hold (the recorder's first, creating hold not counted)
            return real_attach(con, path, alias, create=create, **options)

        monkeypatch.setattr(writer, "append_lean", append)
        monkeypatch.setattr(writer, "attach_trace", attach)


def stored(path) -> tuple[list[tuple[int, int]], str]:
    con = duckdb.connect(str(path), read_only=True)  # the file is released: this open succeeds at once
    try:
        steps = con.execute("SELECT step, count(*) FROM memory_events GROUP BY step ORDER BY step").fetchall()
        return steps, con.execute("SELECT status FROM runs").fetchone()[0]
    finally:
        con.close()


def test_finish_during_a_flush_commits_the_rest_in_the_same_hold(trace_path, monkeypatch):
    blocked = BlockedAppend(monkeypatch)
    flushed: list[int] = []
    rec = DuckDBRecorder(trace_path, family="memnet", flush_interval=60.0, max_buffered_rows=100,
                         on_flush=flushed.append, index_on_finish=False)
    blocked.recorder = rec
    rec.events(step=0, op="write", memory="slot", cell=np.arange(300))  # past the limit: a background flush
    assert blocked.entered.wait(10)
    rec.events(step=1, op="read", memory="slot", cell=np.arange(50))  # recorded while that flush appends
    rec.finish()
    assert blocked.attaches == 1 and blocked.calls == 2  # two commits, one hold of the file
    assert flushed == [300, 350] and rec.unwritten_rows() == 0
    assert stored(trace_path) == ([(0, 300), (1, 50)], "complete")


def test_a_failed_last_commit_is_retried_by_finish(trace_path, monkeypatch):
    blocked = BlockedAppend(monkeypatch, fail_calls=(2,))
    rec = DuckDBRecorder(trace_path, family="memnet", flush_interval=60.0, max_buffered_rows=100, index_on_finish=False)
    blocked.recorder = rec
    rec.events(step=0, op="write", memory="slot", cell=np.arange(300))
    assert blocked.entered.wait(10)
    rec.events(step=1, op="read", memory="slot", cell=np.arange(50))
    rec.finish("crashed")
    assert blocked.attaches == 2 and blocked.calls == 3  # the background hold, then finish()'s own
    assert stored(trace_path) == ([(0, 300), (1, 50)], "crashed")
