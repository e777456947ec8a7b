"""open_trace: creation, validation of good and bad files, migration, lock retry; read_trace: the store's attachments."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import duckdb
import pytest

import tracing.connection as connection
import tracing.hosts as hosts
from tracing.connection import open_trace
from tracing.errors import NotATraceError, SchemaVersionError, TraceLockedError
from tracing.schema import DDL, FORMAT_TAG, OPS, SCHEMA_VERSION, TABLES, VIEWS


def _tables(con):
    """Tables and views of the open database."""
    rows = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
        "UNION ALL SELECT view_name FROM duckdb_views() WHERE database_name = current_database() AND NOT internal"
    ).fetchall()
    return {r[0] for r in rows}


def test_create_makes_every_table_and_meta(trace_path):
    con = open_trace(trace_path, read_only=False, create=True)
    assert _tables(con) == set(DDL)
    views = {r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
    assert views == set(VIEWS)
    meta = dict(con.execute("SELECT key, value FROM memscope_meta").fetchall())
    assert meta == {"schema_version": str(SCHEMA_VERSION), "format": FORMAT_TAG}
    assert con.execute("SELECT code, op FROM ops ORDER BY code").fetchall() == list(enumerate(OPS))
    con.close()
    ro = open_trace(trace_path, read_only=True)
    assert set(TABLES) <= _tables(ro)
    ro.close()


def test_create_on_existing_trace_keeps_its_rows(trace_path, kit):
    kit.write_trace(trace_path, [(kit.run_row("r1"), {})])
    con = open_trace(trace_path, read_only=False, create=True)
    assert con.execute("SELECT run_id FROM runs").fetchall() == [("r1",)]
    con.close()


def test_create_in_empty_file(trace_path):
    trace_path.write_bytes(b"")
    con = open_trace(trace_path, read_only=False, create=True)
    assert "runs" in _tables(con)
    con.close()


def test_create_in_empty_duckdb_database(trace_path):
    duckdb.connect(str(trace_path)).close()
    con = open_trace(trace_path, read_only=False, create=True)
    assert "memory_events" in _tables(con)
    con.close()


def test_read_only_leaves_bytes_unchanged(trace_path, kit):
    kit.write_trace(trace_path, [(kit.run_row("r1"), {})])
    before = kit.file_digest(trace_path)
    for _ in range(3):
        con = open_trace(trace_path, read_only=True)
        con.execute("SELECT count(*) FROM runs").fetchall()
        con.close()
    assert kit.file_digest(trace_path) == before
    assert not trace_path.with_name(trace_path.name + ".wal").exists()


def test_create_needs_writable(trace_path):
    with pytest.raises(ValueError, match="read_only=False"):
        open_trace(trace_path, read_only=True, create=True)


def test_missing_file_is_not_created(trace_path):
    with pytest.raises(NotATraceError, match="does not exist"):
        open_trace(trace_path, read_only=True)
    with pytest.raises(NotATraceError, match="does not exist"):
        open_trace(trace_path, read_only=False)
    assert not trace_path.exists()


def test_folder_is_refused(tmp_path):
    with pytest.raises(NotATraceError, match="is a folder"):
        open_trace(tmp_path, read_only=True)


def test_empty_file_read_only_is_refused_and_untouched(trace_path):
    trace_path.write_bytes(b"")
    with pytest.raises(NotATraceError, match="empty"):
        open_trace(trace_path, read_only=True)
    assert trace_path.stat().st_size == 0
    assert sorted(os.listdir(trace_path.parent)) == [trace_path.name]


def test_random_bytes(trace_path, kit):
    trace_path.write_bytes(os.urandom(20_000))
    before = kit.file_digest(trace_path)
    with pytest.raises(NotATraceError, match="not a DuckDB file"):
        open_trace(trace_path, read_only=True)
    assert kit.file_digest(trace_path) == before


def test_truncated_file(trace_path, kit, tmp_path):
    kit.write_trace(trace_path, [(kit.run_row("r1"), {})])
    data = trace_path.read_bytes()
    cut = tmp_path / "cut.duckdb"
    cut.write_bytes(data[: len(data) // 3])
    with pytest.raises(NotATraceError, match="damaged or truncated"):
        open_trace(cut, read_only=True)


def test_foreign_duckdb_file_names_its_tables(trace_path):
    con = duckdb.connect(str(trace_path))
    con.execute("CREATE TABLE invoices (id INTEGER)")
    con.close()
    with pytest.raises(NotATraceError, match="no memscope_meta table; it has invoices"):
        open_trace(trace_path, read_only=True)


def test_wrong_format_tag(trace_path):
    con = open_trace(trace_path, read_only=False, create=True)
    con.execute("UPDATE memscope_meta SET value = 'someone-else' WHERE key = 'format'")
    con.close()
    with pytest.raises(NotATraceError, match="format 'someone-else'"):
        open_trace(trace_path, read_only=True)


def test_missing_tables_are_listed(trace_path):
    con = open_trace(trace_path, read_only=False, create=True)
    con.execute("DROP TABLE moments")
    con.execute("DROP TABLE metrics")
    con.close()
    with pytest.raises(NotATraceError, match="missing table\\(s\\) metrics, moments"):
        open_trace(trace_path, read_only=True)


def test_missing_column_is_named(trace_path):
    con = open_trace(trace_path, read_only=False, create=True)
    con.execute("ALTER TABLE steps DROP COLUMN entropy")
    con.close()
    with pytest.raises(NotATraceError, match="steps.entropy"):
        open_trace(trace_path, read_only=True)


def _set_version(path, version):
    con = duckdb.connect(str(path))
    con.execute("UPDATE memscope_meta SET value = ? WHERE key = 'schema_version'", [str(version)])
    con.close()


def test_newer_schema_says_upgrade_memscope(trace_path):
    open_trace(trace_path, read_only=False, create=True).close()
    _set_version(trace_path, SCHEMA_VERSION + 1)
    for read_only in (True, False):
        with pytest.raises(SchemaVersionError, match=f"newer memscope \\(schema {SCHEMA_VERSION + 1}.*upgrade memscope"):
            open_trace(trace_path, read_only=read_only)


@pytest.fixture
def next_schema(monkeypatch):
    """Pretend this memscope reads schema N+1, with a migration N -> N+1 that adds runs.tags."""
    old = SCHEMA_VERSION
    calls = []

    def add_tags(con):
        calls.append(old)
        con.execute("ALTER TABLE runs ADD COLUMN tags VARCHAR")
        con.execute("UPDATE runs SET tags = 'migrated'")

    monkeypatch.setattr(connection, "SCHEMA_VERSION", old + 1)
    monkeypatch.setattr(connection, "MIGRATIONS", {old: add_tags})
    return calls


def test_older_schema_read_only_names_the_migrate_command(trace_path, kit, next_schema):
    kit.write_trace(trace_path, [(kit.run_row("r1"), {})])
    _set_version(trace_path, SCHEMA_VERSION)  # the real version, "older" than the pretended one
    before = kit.file_digest(trace_path)
    with pytest.raises(SchemaVersionError, match=f"older trace schema {SCHEMA_VERSION}.*memscope migrate {trace_path}"):
        open_trace(trace_path, read_only=True)
    assert kit.file_digest(trace_path) == before
    assert next_schema == []


def test_older_schema_is_migrated_when_writable(trace_path, kit, next_schema):
    kit.write_trace(trace_path, [(kit.run_row("r1"), {})])
    _set_version(trace_path, SCHEMA_VERSION)
    con = open_trace(trace_path, read_only=False)
    assert con.execute("SELECT run_id, tags FROM runs").fetchall() == [("r1", "migrated")]
    assert connection.schema_version_of(con) == SCHEMA_VERSION + 1
    con.close()
    open_trace(trace_path, read_only=True).close()  # now current: opens read-only
    open_trace(trace_path, read_only=False).close()
    assert next_schema == [SCHEMA_VERSION]  # migrated exactly once


def test_missing_migration_step_is_reported(trace_path, monkeypatch):
    open_trace(trace_path, read_only=False, create=True).close()
    monkeypatch.setattr(connection, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    monkeypatch.setattr(connection, "MIGRATIONS", {})
    with pytest.raises(SchemaVersionError, match="no migration"):
        open_trace(trace_path, read_only=False)


def test_failed_migration_rolls_back(trace_path, monkeypatch):
    open_trace(trace_path, read_only=False, create=True).close()

    def broken(con):
        con.execute("ALTER TABLE runs ADD COLUMN tags VARCHAR")
        raise RuntimeError("boom")

    monkeypatch.setattr(connection, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    monkeypatch.setattr(connection, "MIGRATIONS", {SCHEMA_VERSION: broken})
    with pytest.raises(RuntimeError, match="boom"):
        open_trace(trace_path, read_only=False)
    con = duckdb.connect(str(trace_path), read_only=True)
    assert connection.schema_version_of(con) == SCHEMA_VERSION
    assert "tags" not in {r[0] for r in con.execute("DESCRIBE runs").fetchall()}
    con.close()


# -- locks ----------------------------------------------------------------------------------------

_HOLDER = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
print("held", flush=True)
time.sleep(float(sys.argv[2]))
con.close()
"""


def _hold_in_other_process(path, seconds):
    proc = subprocess.Popen([sys.executable, "-c", _HOLDER, str(path), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_lock_held_by_other_process_is_waited_out(trace_path):
    open_trace(trace_path, read_only=False, create=True).close()
    proc = _hold_in_other_process(trace_path, 0.6)
    try:
        start = time.monotonic()
        con = open_trace(trace_path, read_only=True, timeout=10)
        waited = time.monotonic() - start
        assert con.execute("SELECT count(*) FROM runs").fetchone() == (0,)
        con.close()
        assert waited > 0.1  # it really had to wait for the other process
    finally:
        proc.wait(timeout=10)


def test_lock_held_too_long_raises_locked(trace_path):
    open_trace(trace_path, read_only=False, create=True).close()
    proc = _hold_in_other_process(trace_path, 5)
    try:
        with pytest.raises(TraceLockedError, match=f"held by process {proc.pid} .*wait"):
            open_trace(trace_path, read_only=True, timeout=0.3)
    finally:
        proc.kill()
        proc.wait()


def test_same_process_other_configuration_is_retried(trace_path):
    writer = open_trace(trace_path, read_only=False, create=True)
    with pytest.raises(TraceLockedError, match="another connection"):
        open_trace(trace_path, read_only=True, timeout=0.2)
    threading.Timer(0.3, writer.close).start()
    con = open_trace(trace_path, read_only=True, timeout=5)
    assert con.execute("SELECT count(*) FROM memscope_meta").fetchone() == (2,)
    con.close()


# -- read_trace: the store's read-only attachments -------------------------------------------------


def test_read_trace_releases_the_file_for_a_writer_of_this_process(trace_path):
    open_trace(trace_path, read_only=False, create=True).close()
    with connection.read_trace(trace_path) as con:
        assert con.execute("SELECT count(*) FROM memscope_meta").fetchone() == (2,)
        with pytest.raises(TraceLockedError):  # attached: a read-write open must wait
            open_trace(trace_path, read_only=False, timeout=0.2)
    writer = open_trace(trace_path, read_only=False, timeout=0.2)  # detached on exit: free at once
    writer.close()


def test_read_trace_waits_out_a_writer_of_this_process(trace_path):
    writer = open_trace(trace_path, read_only=False, create=True)
    with pytest.raises(TraceLockedError, match="another connection"):
        with connection.read_trace(trace_path, timeout=0.2):
            pass
    threading.Timer(0.3, writer.close).start()
    with connection.read_trace(trace_path, timeout=5) as con:
        assert con.execute("SELECT count(*) FROM runs").fetchone() == (0,)


def test_read_trace_serves_threads_at_once(trace_path, kit):
    kit.write_trace(trace_path, [(kit.run_row("r"), {})])
    inside, results = threading.Barrier(4), []

    def read() -> None:
        with connection.read_trace(trace_path) as con:
            inside.wait(timeout=10)  # all four attached at the same time
            results.append(con.execute("SELECT run_id FROM runs").fetchall())

    threads = [threading.Thread(target=read) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [[("r",)]] * 4


def test_read_trace_validates_on_request(tmp_path):
    foreign = tmp_path / "foreign.duckdb"
    con = duckdb.connect(str(foreign))
    con.execute("CREATE TABLE t (x INTEGER)")
    con.close()
    with connection.read_trace(foreign):  # not validated: the caller knows the file
        pass
    with pytest.raises(NotATraceError, match="t"):
        with connection.read_trace(foreign, validate=True):
            pass


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_read_trace_in_a_forked_child_uses_its_own_database(trace_path, kit):
    """A child never runs queries in the DuckDB it inherited (whose threads and locks did not fork)."""
    kit.write_trace(trace_path, [(kit.run_row("r"), {})])
    host = hosts.read_host()
    host.execute("SET memory_limit = '123MB'")  # marks the parent's database
    try:
        _fork_and_read(trace_path)
    finally:
        host.execute("RESET memory_limit")
    with connection.read_trace(trace_path) as con:  # the parent's still works
        assert con.execute("SELECT count(*) FROM runs").fetchone() == (1,)


def _fork_and_read(trace_path) -> None:
    limit = "SELECT current_setting('memory_limit')"
    with connection.read_trace(trace_path) as con:
        parent_limit = con.execute(limit).fetchone()[0]
    pid = os.fork()
    if pid == 0:  # the child: exit code 0 only if it read the trace in a database of its own
        try:
            with connection.read_trace(trace_path) as con:
                ok = con.execute("SELECT count(*) FROM runs").fetchone() == (1,) and con.execute(limit).fetchone()[0] != parent_limit
        except BaseException:  # noqa: BLE001 - reported through the exit code
            ok = False
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
