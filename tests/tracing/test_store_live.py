"""The store watches a run while another process writes it, and derives the status of dead writers."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

from tracing.liveness import this_host, utc_now
from tracing.store import TraceStore

REPO = Path(__file__).resolve().parents[2]

WRITER = """
import os, sys, time
import numpy as np
from tracing.writer import DuckDBRecorder
go = sys.argv[2]
with DuckDBRecorder(sys.argv[1], name="live", family="memnet", flush_interval=0.05) as rec:
    print(rec.run_id, flush=True)
    for step in range(20):
        rec.events(step=step, op="write", memory="slot", cell=np.arange(8))
    rec.flush()
    print("flushed", flush=True)
    while not os.path.exists(go):  # the reader looks at the half-written run meanwhile
        time.sleep(0.02)
    for step in range(20, 40):
        rec.events(step=step, op="write", memory="slot", cell=np.arange(8))
        time.sleep(0.02)
"""


def test_store_reads_a_run_while_another_process_writes_it(trace_path, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    go = tmp_path / "go"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(trace_path), str(go)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        run_id = proc.stdout.readline().strip()
        assert proc.stdout.readline().strip() == "flushed"
        store = TraceStore(trace_path, timeout=30)
        # the writer process is alive, its run open: the reader sees what it flushed
        runs = store.runs()
        assert runs[["run_id", "status", "n_events", "n_steps"]].values.tolist() == [[run_id, "running", 160, 20]]
        assert store.heatmap(run_id, "write").frame["value"].sum() == 160
        go.touch()
        seen = []
        while proc.poll() is None:  # and keeps reading while the writer flushes the rest
            seen.append(int(store.runs()["n_events"].iloc[0]))
            time.sleep(0.05)
        assert proc.wait() == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert seen == sorted(seen) and all(160 <= n <= 320 for n in seen)  # never goes back
    runs = store.runs()
    assert runs[["run_id", "status", "n_events", "n_steps"]].values.tolist() == [[run_id, "complete", 320, 40]]
    assert store.heatmap(run_id, "write").frame["value"].sum() == 320


def test_runs_status_is_derived_from_writer_liveness(trace_path, kit):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    now = utc_now()
    fresh, stale = now - dt.timedelta(seconds=1), now - dt.timedelta(hours=1)
    host = this_host()
    kit.write_trace(trace_path, [
        (kit.run_row("alive", status="running", writer_pid=os.getpid(), writer_host=host, heartbeat=fresh, finished=None), {}),
        (kit.run_row("killed", status="running", writer_pid=dead.pid, writer_host=host, heartbeat=fresh, finished=None), {}),
        (kit.run_row("silent", status="running", writer_pid=12345, writer_host="elsewhere", heartbeat=stale, finished=None), {}),
        (kit.run_row("done", status="complete"), {}),
    ])
    runs = TraceStore(trace_path).runs(now=now).set_index("run_id")["status"].to_dict()
    assert runs == {"alive": "running", "killed": "crashed", "silent": "crashed", "done": "complete"}


KILLED_WRITER = """
import sys, time
from tracing.connection import open_trace
con = open_trace(sys.argv[1], read_only=False, create=True)
con.execute("PRAGMA disable_checkpoint_on_shutdown")
con.execute("SET checkpoint_threshold = '1GB'")  # committed rows stay in the write-ahead log
con.execute("INSERT INTO runs (run_id, created, status, family, schema_version) VALUES ('r', now(), 'running', 'memnet', 2)")
con.execute("INSERT INTO streams VALUES (0, 'r', 'slot', 0, 0)")
con.execute("INSERT INTO stream_events SELECT 0, range, 0, range % 8, 0, 1.0, NULL, NULL FROM range(1000)")  # op 0: write
print("committed", flush=True)
time.sleep(60)
"""


def test_store_reads_a_killed_writers_log_without_touching_it(trace_path, kit):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(trace_path)], stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout.readline().strip() == "committed"
    proc.kill()
    proc.wait()
    wal = trace_path.with_name(trace_path.name + ".wal")
    assert wal.stat().st_size > 0  # the rows live only in the log
    before = (kit.file_digest(trace_path), kit.file_digest(wal))
    store = TraceStore(trace_path)
    assert store.runs()[["run_id", "n_events"]].values.tolist() == [["r", 1000]]
    assert store.heatmap("r", "write").frame["value"].sum() == 1000
    assert (kit.file_digest(trace_path), kit.file_digest(wal)) == before  # read, not replayed into the file
