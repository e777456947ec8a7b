"""The in-memory DuckDBs a process keeps to ATTACH trace files to: one shared by readers, idle ones for writers.

Building a DuckDB instance (``duckdb.connect``) takes ~17-20 ms on the 2-core VM and closing one
after a 5 M-event flush ~7 ms; ATTACHing a file to a kept instance takes 1-4 ms
(docs/benchmarks/queries.md, docs/benchmarks/ingest.md). So:

- :func:`read_host`: ONE instance per process for every reader (each takes a cursor and attaches
  the file under a name of its own: :func:`tracing.connection.read_trace`).
- :func:`take_writer_host` / :func:`keep_writer_host`: a writer (one recorder) owns its instance
  while it runs, as DuckDB connections serve one thread at a time and ``USE`` is per connection;
  a finished recorder leaves its instance, with nothing attached, to the next recorder of the
  process (at most :data:`IDLE_WRITER_HOSTS` wait). An idle instance that has appended a large
  flush holds on to ~45 MB of DuckDB's memory (a 5 M-event run, measured), which the next recorder
  reuses; :func:`release_idle_writer_hosts` gives it back.

Every instance belongs to the process id that built it: a forked child builds its own and never
touches, nor closes, those it inherited (their threads and locks did not fork).
"""

from __future__ import annotations

import os
import threading

import duckdb

WRITER_THREADS = 2
"""DuckDB threads of a writer: DuckDB appends one slice on 2 threads (the 2 cores of the ingest target),
and leaves the other cores of a larger machine to the engine being traced."""

IDLE_WRITER_HOSTS = 1
"""Writer instances a process keeps between recorders (the rest are closed): recorders mostly run
one after another (a live prompt each, a training run each)."""

_read_hosts: dict[int, duckdb.DuckDBPyConnection] = {}
_idle_writer_hosts: dict[int, list[duckdb.DuckDBPyConnection]] = {}
_guard = threading.Lock()


def read_host() -> duckdb.DuckDBPyConnection:
    """The process's instance for readers (take a ``cursor()`` of it per reader)."""
    with _guard:
        host = _read_hosts.get(os.getpid())
        if host is None:
            host = _read_hosts[os.getpid()] = duckdb.connect(":memory:")
        return host


def take_writer_host() -> duckdb.DuckDBPyConnection:
    """An instance for one writer, appending on :data:`WRITER_THREADS` threads: an idle one of the
    process when there is one, else a new one."""
    with _guard:
        idle = _idle_writer_hosts.get(os.getpid())
        if idle:
            return idle.pop()
    host = duckdb.connect(":memory:")
    host.execute(f"SET threads = {WRITER_THREADS}")
    return host


def keep_writer_host(host: duckdb.DuckDBPyConnection) -> None:
    """Hand back a writer's instance, with no file attached, for the process's next writer (closed
    when :data:`IDLE_WRITER_HOSTS` already wait)."""
    with _guard:
        idle = _idle_writer_hosts.setdefault(os.getpid(), [])
        if len(idle) < IDLE_WRITER_HOSTS:
            idle.append(host)
            return
    host.close()


def release_idle_writer_hosts() -> None:
    """Close the writer instances this process keeps idle (the next recorder builds a new one)."""
    with _guard:
        idle = _idle_writer_hosts.pop(os.getpid(), [])
    for host in idle:
        host.close()


def _renew_guard() -> None:
    """In a forked child: a fresh lock (the parent's may have been held by a thread that is gone)."""
    global _guard
    _guard = threading.Lock()


os.register_at_fork(after_in_child=_renew_guard)
