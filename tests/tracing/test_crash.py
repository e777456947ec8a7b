"""A writer killed with SIGKILL: the file opens, the run is crashed, every acknowledged flush is there."""

from __future__ import annotations

import os
import signal
import time

import duckdb
import pytest
from tests.tracing.helpers_writer import ROWS_PER_STEP, start_writer

from tracing.connection import open_trace
from tracing.liveness import effective_status, utc_now
from tracing.store import TraceStore
from tracing.writer import DuckDBRecorder

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")


def read_reports(child, until, timeout: float = 20.0) -> list[str]:
    """Lines the child printed, up to the first for which ``until(lines)`` holds."""
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while not until(lines):
        line = child.stdout.readline()
        if not line:
            raise AssertionError(f"writer exited early: {child.stderr.read()}")
        lines.append(line.split())
        if time.monotonic() > deadline:
            raise AssertionError("writer too slow")
    return lines


def flushed(lines) -> list[int]:
    return [int(words[1]) for words in lines if words[0] == "flushed"]


def test_sigkill_keeps_every_flushed_row_and_shows_crashed(trace_path):
    child = start_writer(trace_path, "--interval", "0.2", "--step-sleep", "0.002")
    try:
        lines = read_reports(child, lambda lines: len(flushed(lines)) >= 5)
        run_id = lines[0][1]
        acknowledged = flushed(lines)[-1]
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
        child.stdout.close()
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL

    con = open_trace(trace_path, read_only=True)  # validates: the killed file is a readable trace
    events = con.execute("SELECT count(*) FROM memory_events WHERE run_id = ?", [run_id]).fetchone()[0]
    n_steps = con.execute("SELECT count(*) FROM steps WHERE run_id = ?", [run_id]).fetchone()[0]
    status, pid, host, beat = con.execute(
        "SELECT status, writer_pid, writer_host, heartbeat FROM runs WHERE run_id = ?", [run_id]
    ).fetchone()
    con.close()
    assert events + n_steps >= acknowledged
    assert events == n_steps * ROWS_PER_STEP  # flushes are whole transactions: no half-written step
    assert status == "running"  # as the killed writer left it
    assert effective_status(status, pid, host, beat, utc_now()) == "crashed"
    assert TraceStore(trace_path).runs().set_index("run_id").loc[run_id, "status"] == "crashed"

    # The next writer of the file persists the verdict.
    with DuckDBRecorder(trace_path, family="memnet") as rec:
        rec.metric("loss", 1.0)
    con = duckdb.connect(str(trace_path), read_only=True)
    statuses = dict(con.execute("SELECT run_id, status FROM runs").fetchall())
    con.close()
    assert statuses == {run_id: "crashed", rec.run_id: "complete"}


def test_sigkill_during_a_flush_keeps_all_or_nothing_of_it(trace_path):
    big = 3_000_000
    child = start_writer(trace_path, "--big-flush", str(big))
    try:
        lines = read_reports(child, lambda lines: bool(lines) and lines[-1][0] == "flushing")
        time.sleep(0.3)  # well inside a flush of 3 M rows (seconds here)
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        lines += [line.split() for line in child.stdout.read().splitlines()]
    finally:
        child.kill()
        child.wait()
        child.stdout.close()
        child.stderr.close()
    acknowledged = flushed(lines)
    assert acknowledged[0] == ROWS_PER_STEP + 1, lines
    con = open_trace(trace_path, read_only=True)
    events = con.execute("SELECT count(*) FROM memory_events").fetchone()[0]
    writes = con.execute("SELECT count(*) FROM memory_events WHERE op = 'write'").fetchone()[0]
    con.close()
    assert writes in (0, big)  # the interrupted flush is one transaction: none of it or all of it
    assert events == ROWS_PER_STEP + writes
    assert writes == big or max(acknowledged) == ROWS_PER_STEP + 1  # reported committed -> there


def test_exit_without_finish_writes_the_buffer_and_marks_crashed(trace_path):
    child = start_writer(trace_path, "--interval", "30", "--seconds", "0.3", "--no-finish")
    out, err = child.communicate(timeout=30)
    assert child.returncode == 0, err
    lines = [line.split() for line in out.splitlines()]
    assert [words[0] for words in lines] == ["run", "exiting", "flushed"]  # 30 s interval: only the exit flush
    run_id, n_steps = lines[0][1], int(lines[1][1])
    con = duckdb.connect(str(trace_path), read_only=True)
    events = con.execute("SELECT count(*) FROM memory_events WHERE run_id = ?", [run_id]).fetchone()[0]
    status = con.execute("SELECT status FROM runs WHERE run_id = ?", [run_id]).fetchone()[0]
    con.close()
    assert events == n_steps * ROWS_PER_STEP and n_steps > 0
    assert status == "crashed"


def test_a_forked_child_exiting_does_not_end_the_parents_run(trace_path):
    import tracing.writer as writer

    rec = DuckDBRecorder(trace_path, family="memnet", flush_interval=30.0)
    rec.metric("loss", 1.0)
    pid = os.fork()
    if pid == 0:  # the child runs what its interpreter would run at exit, then leaves
        try:
            writer._finish_abandoned()
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    con = open_trace(trace_path, read_only=True)
    status = con.execute("SELECT status FROM runs").fetchone()[0]
    con.close()
    assert status == "running"
    rec.finish()
    con = duckdb.connect(str(trace_path), read_only=True)
    assert con.execute("SELECT status, (SELECT count(*) FROM metrics) FROM runs").fetchone() == ("complete", 1)
    con.close()
