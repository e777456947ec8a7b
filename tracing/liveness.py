"""Is a run that says ``running`` still being written? (crash detection for trace files)

A writer (:class:`tracing.writer.DuckDBRecorder`) stores its process id, host name and a
heartbeat in its ``runs`` row and refreshes the heartbeat at every flush, at least every
:data:`HEARTBEAT_PERIOD_S` seconds. A run killed with SIGKILL (or a process that exited without
``finish()``) leaves ``status = 'running'`` behind; these functions tell it apart from a live run:

- same host and the writer's process is gone -> ``crashed`` (immediate, exact);
- heartbeat older than ``max(STALE_AFTER_S, STALE_INTERVALS * flush_interval)`` -> ``crashed``
  (works across hosts; generous, because a writer waiting for a reader to release the file does
  not refresh its heartbeat).

Timestamps are naive UTC (DuckDB ``TIMESTAMP``), as written by the writer.
"""

from __future__ import annotations

import datetime as dt
import os
import socket

import duckdb

HEARTBEAT_PERIOD_S = 10.0
"""A live writer refreshes its heartbeat at least this often, whatever its flush interval."""

STALE_AFTER_S = 60.0
"""A heartbeat older than this (and older than ``STALE_INTERVALS`` flush intervals) means crashed."""

STALE_INTERVALS = 20
"""Flush intervals without a heartbeat after which a run counts as crashed."""


def utc_now() -> dt.datetime:
    """The current time as naive UTC, the form stored in ``runs.created/heartbeat/finished``."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def this_host() -> str:
    """The host name a writer stores in ``runs.writer_host``."""
    return socket.gethostname()


def pid_alive(pid: int) -> bool:
    """True when a process with this id exists on this host (signal 0 probes without sending)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _naive_utc(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.timezone.utc).replace(tzinfo=None) if value.tzinfo else value


def effective_status(
    status: str,
    writer_pid: int | None,
    writer_host: str | None,
    heartbeat: dt.datetime | None,
    now: dt.datetime,
    flush_interval: float = 1.0,
) -> str:
    """The status to show for a run: ``'running'``, ``'complete'`` or ``'crashed'``.

    Only a stored ``'running'`` can change: to ``'crashed'`` when its writer process is gone
    (same host) or its heartbeat is stale (see the module docstring). Without a pid or a
    heartbeat (a run written by hand) the corresponding check is skipped.
    """
    if status != "running":
        return status
    if writer_pid is not None and writer_host == this_host() and not pid_alive(int(writer_pid)):
        return "crashed"
    if heartbeat is not None:
        silence = (_naive_utc(now) - _naive_utc(heartbeat)).total_seconds()
        if silence > max(STALE_AFTER_S, STALE_INTERVALS * flush_interval):
            return "crashed"
    return "running"


def mark_crashed(con: duckdb.DuckDBPyConnection, now: dt.datetime | None = None) -> list[str]:
    """Persist ``status = 'crashed'`` for every ``running`` run whose writer is dead; return their ids.

    ``finished`` becomes the last heartbeat (the last moment the writer was known alive). Runs in
    ``con`` (a writable connection); the caller owns the transaction.
    """
    now = utc_now() if now is None else now
    rows = con.execute(
        "SELECT run_id, writer_pid, writer_host, heartbeat FROM runs WHERE status = 'running'"
    ).fetchall()
    dead = [run_id for run_id, pid, host, beat in rows if effective_status("running", pid, host, beat, now) == "crashed"]
    for run_id in dead:
        con.execute(
            "UPDATE runs SET status = 'crashed', finished = coalesce(heartbeat, created) WHERE run_id = ?",
            [run_id],
        )
    return dead
