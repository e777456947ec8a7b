"""Watching a live run from another process: the writer releases the file between flushes."""

from __future__ import annotations

import time

from tests.tracing.helpers_writer import ROWS_PER_STEP, start_writer

from tracing.connection import open_trace

GROWTH_SEEN = 3
"""Distinct row counts the reader must see while the run is still 'running'."""


def snapshot(trace_path) -> tuple[int, str]:
    """(memory events, run status) as a reader in this process sees them now."""
    con = open_trace(trace_path, read_only=True, timeout=10.0)  # waits out a flush in progress
    try:
        events = con.execute("SELECT count(*) FROM memory_events").fetchone()[0]
        steps = con.execute("SELECT count(*) FROM steps").fetchone()[0]
        status = con.execute("SELECT status FROM runs").fetchone()[0]
    finally:
        con.close()
    assert events == steps * ROWS_PER_STEP  # every snapshot is a whole number of flushed steps
    return events, status


def test_reader_process_sees_a_run_grow_then_complete(trace_path, tmp_path):
    stop = tmp_path / "stop"
    child = start_writer(trace_path, "--interval", "0.2", "--stop-file", str(stop))
    seen: list[tuple[int, str]] = []
    try:
        assert child.stdout.readline().startswith("run ")  # the run row exists from here on
        deadline = time.monotonic() + 60  # a loaded machine is slow; the test ends as soon as it has seen growth
        while len({events for events, status in seen if status == "running" and events}) < GROWTH_SEEN:
            assert child.poll() is None, child.stderr.read()
            assert time.monotonic() < deadline, f"run did not grow in a reader's eyes: {seen}"
            seen.append(snapshot(trace_path))
            time.sleep(0.1)
        stop.touch()  # the writer finishes its run
        while seen[-1][1] != "complete":
            exited = child.poll() is not None
            seen.append(snapshot(trace_path))
            if exited:
                break  # one last look after the writer exited
            time.sleep(0.1)
        out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 0, err
    done = int(out.split()[-1])
    counts = [events for events, _ in seen]
    assert counts == sorted(counts)  # never goes back
    assert seen[-1][1] == "complete"
    assert seen[-1][0] + seen[-1][0] // ROWS_PER_STEP == done  # events + steps == every row the writer wrote
