"""Watching a live run from another process: the writer releases the file between flushes."""

from __future__ import annotations

import time

from helpers_writer import ROWS_PER_STEP, start_writer

from tracing.connection import open_trace


def test_reader_process_sees_a_run_grow_then_complete(trace_path):
    child = start_writer(trace_path, "--interval", "0.2", "--seconds", "3")
    seen: list[tuple[int, str]] = []
    try:
        assert child.stdout.readline().startswith("run ")  # the run row exists from here on
        while not seen or seen[-1][1] != "complete":
            exited = child.poll() is not None
            con = open_trace(trace_path, read_only=True, timeout=5.0)  # waits out a flush in progress
            try:
                events = con.execute("SELECT count(*) FROM memory_events").fetchone()[0]
                steps = con.execute("SELECT count(*) FROM steps").fetchone()[0]
                status = con.execute("SELECT status FROM runs").fetchone()[0]
            finally:
                con.close()
            assert events == steps * ROWS_PER_STEP  # every snapshot is a whole number of flushed steps
            seen.append((events, status))
            if exited:
                break  # one last look after the writer exited
            time.sleep(0.1)
        out, err = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 0, err
    done = int(out.split()[-1])
    counts = [events for events, _ in seen]
    assert counts == sorted(counts)  # never goes back
    growing = {events for events, status in seen if status == "running"}
    assert len(growing) >= 3  # the reader watched it grow while the writer was still running
    assert seen[-1][1] == "complete"
    assert seen[-1][0] + seen[-1][0] // ROWS_PER_STEP == done  # events + steps == every row the writer wrote
