"""tracing.liveness: a 'running' run whose writer is dead or silent is 'crashed'; mark_crashed persists it."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys

import duckdb
import pytest

from tracing.liveness import STALE_AFTER_S, STALE_INTERVALS, effective_status, mark_crashed, this_host, utc_now
from tracing.schema import DDL

NOW = dt.datetime(2026, 11, 22, 1, 0, 0)
FRESH = NOW - dt.timedelta(seconds=2)
STALE = NOW - dt.timedelta(seconds=STALE_AFTER_S + 1)


@pytest.fixture(scope="module")
def dead_pid() -> int:
    """The id of a process that has exited and been reaped."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_finished_statuses_never_change(dead_pid):
    for status in ("complete", "crashed"):
        assert effective_status(status, dead_pid, this_host(), STALE, NOW) == status


def test_live_writer_with_fresh_heartbeat_is_running():
    assert effective_status("running", os.getpid(), this_host(), FRESH, NOW) == "running"


def test_dead_writer_on_this_host_is_crashed_at_once(dead_pid):
    assert effective_status("running", dead_pid, this_host(), FRESH, NOW) == "crashed"


def test_other_host_is_judged_by_heartbeat(dead_pid):
    # The pid means nothing on another host: only the heartbeat counts there.
    assert effective_status("running", dead_pid, "elsewhere", FRESH, NOW) == "running"
    assert effective_status("running", dead_pid, "elsewhere", STALE, NOW) == "crashed"


def test_stale_heartbeat_is_crashed_even_if_the_pid_exists():
    assert effective_status("running", os.getpid(), this_host(), STALE, NOW) == "crashed"


def test_staleness_grows_with_the_flush_interval():
    interval = 10.0
    silent = NOW - dt.timedelta(seconds=STALE_INTERVALS * interval - 1)
    assert effective_status("running", None, None, silent, NOW, flush_interval=interval) == "running"
    assert effective_status("running", None, None, silent, NOW, flush_interval=1.0) == "crashed"


def test_timezone_aware_now_is_compared_in_utc():
    aware = dt.datetime(2026, 11, 22, 2, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))  # = NOW UTC
    assert effective_status("running", None, None, FRESH, aware) == "running"


def test_without_pid_or_heartbeat_the_run_is_trusted():
    assert effective_status("running", None, None, None, NOW) == "running"


def test_mark_crashed_persists_only_dead_runs(dead_pid):
    con = duckdb.connect(":memory:")
    con.execute(DDL["runs"])
    now = utc_now()
    beat = now - dt.timedelta(seconds=1)
    rows = [
        ("dead", "running", dead_pid, this_host(), beat),
        ("alive", "running", os.getpid(), this_host(), beat),
        ("silent", "running", None, "elsewhere", now - dt.timedelta(seconds=STALE_AFTER_S * 2)),
        ("done", "complete", dead_pid, this_host(), beat),
    ]
    for run_id, status, pid, host, heartbeat in rows:
        con.execute(
            "INSERT INTO runs (run_id, created, heartbeat, status, family, schema_version, writer_pid, writer_host) "
            "VALUES (?, ?, ?, ?, 'memnet', 1, ?, ?)",
            [run_id, heartbeat, heartbeat, status, pid, host],
        )
    assert sorted(mark_crashed(con, now)) == ["dead", "silent"]
    stored = dict(con.execute("SELECT run_id, status FROM runs").fetchall())
    assert stored == {"dead": "crashed", "alive": "running", "silent": "crashed", "done": "complete"}
    finished = con.execute("SELECT finished = heartbeat FROM runs WHERE run_id = 'dead'").fetchone()[0]
    assert finished is True
