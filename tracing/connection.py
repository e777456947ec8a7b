"""Open a trace file: lock retry, validation, schema creation and migration.

Every part of memscope opens a trace through :func:`open_trace`, or reads it through
:func:`read_trace` (the store's queries). DuckDB lets one process hold a file for writing and then
refuses every other process, even read-only ("Could not set lock on file"); inside one process it
refuses a second connection with a different configuration (read-only next to read-write) or a
second attachment next to a writable one. The writer releases the file between flushes, so these
conflicts are short: both functions retry them with a short backoff and raise
:class:`~tracing.errors.TraceLockedError` only when the file stays held past ``timeout``.

What a valid trace is: a DuckDB file with a ``memscope_meta`` table whose ``format`` row is
:data:`~tracing.schema.FORMAT_TAG` and whose ``schema_version`` row is an integer, plus every table
of :data:`~tracing.schema.DDL` with its columns. Anything else raises
:class:`~tracing.errors.NotATraceError` or :class:`~tracing.errors.SchemaVersionError`, with a
one-line message that says what the file is and what to do.

Older schema versions are upgraded, step by step through :data:`MIGRATIONS`, when the file is
opened writable; a read-only open names the command that upgrades it (``memscope migrate``). A
read-only open never creates, truncates or writes the file.
"""

from __future__ import annotations

import functools
import itertools
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import duckdb

from tracing.appends import copy_logical
from tracing.errors import NotATraceError, SchemaVersionError, TraceLockedError
from tracing.hosts import read_host
from tracing.schema import (
    DDL,
    FORMAT_TAG,
    OPS_ROWS,
    ROLLUP_TABLES,
    SCHEMA_VERSION,
    STREAM_TABLES,
    OutOfRangeError,
    UnknownOpError,
)

Migration = Callable[[duckdb.DuckDBPyConnection], None]
T = TypeVar("T")


def migrate_1_to_2(con: duckdb.DuckDBPyConnection) -> None:
    """Schema 1 -> 2: ``memory_events`` and ``cell_states`` tables become the per-stream tables
    (``streams``, op codes, narrow integers) behind views of the same names; rows keep their order.
    The derived ``memscope_*`` tables of ``memscope index`` are dropped (index the runs again)."""
    for name in ("streams", "ops", "stream_events", "stream_states"):
        con.execute(DDL[name])
    _fill_ops(con)
    for table in STREAM_TABLES:  # schema constants
        old = f"memscope_v1_{table}"
        con.execute(f"ALTER TABLE {table} RENAME TO {old}")
        copy_logical(con, table, old, "rowid")
        con.execute(f"DROP TABLE {old}")
        con.execute(DDL[table])
    for table in ROLLUP_TABLES:
        con.execute(f"DROP TABLE IF EXISTS {table}")


MIGRATIONS: dict[int, Migration] = {1: migrate_1_to_2}
"""``MIGRATIONS[v](con)`` upgrades a trace from schema ``v`` to ``v + 1`` in place (inside a
transaction that also bumps ``memscope_meta.schema_version``); add an entry whenever
:data:`~tracing.schema.SCHEMA_VERSION` grows. A migration that changes recorded rows must also drop
the derived ``memscope_*`` tables of ``memscope index`` (:data:`~tracing.schema.ROLLUP_TABLES`),
which are then rebuilt by indexing again."""

_DUCKDB_MAGIC = b"DUCK"
_MAGIC_OFFSET = 8  # a DuckDB file starts with an 8-byte checksum, then b"DUCK"
_FILE_HEADERS_BYTES = 3 * 4096  # DuckDB's main header and two database headers precede the blocks
_LOCK_MESSAGES = ("Could not set lock", "different configuration", "Unique file handle conflict")
_BROKEN_MESSAGES = (
    "not a valid DuckDB database",
    "Could not read enough bytes",
    "Corrupt",
    "checksum",
    "Serialization",
    "INTERNAL Error",
)


def open_trace(
    path: str | Path, *, read_only: bool, create: bool = False, timeout: float = 5.0, validate: bool = True
) -> duckdb.DuckDBPyConnection:
    """Open, validate (and with ``create=True`` initialise) the trace at ``path``.

    ``read_only=True`` never changes the file. ``create=True`` (writable only) makes the schema in
    a new file, or in an existing empty one (0 bytes, or a DuckDB file with no tables). Older
    schemas are migrated when writable. Raises ``NotATraceError``, ``SchemaVersionError`` or
    ``TraceLockedError`` with a one-line message; the caller closes the returned connection.
    ``validate=False`` skips the checks of an existing file (~25 ms): for a writer re-opening, at
    every flush, a file it already validated.
    """
    if read_only and create:
        raise ValueError("open_trace: create=True needs read_only=False")
    path = Path(path)
    fresh = _check_file(path, read_only=read_only, create=create)
    con = _connect_with_retry(path, read_only=read_only, timeout=timeout)
    try:
        _prepare(con, path, fresh=fresh, create=create, validate=validate, read_only=read_only)
    except BaseException:
        con.close()
        raise
    return con


def attach_trace(
    con: duckdb.DuckDBPyConnection, path: str | Path, alias: str, *, read_only: bool = False, create: bool = False,
    validate: bool = True, timeout: float = 5.0,
) -> None:
    """ATTACH the trace at ``path`` to ``con`` (an in-memory DuckDB the caller keeps) as ``alias`` (a
    constant of the caller, never user text) and ``USE`` it, creating, validating and migrating it as
    :func:`open_trace` does, with the same errors; on an error nothing stays attached. An attach
    takes 1-4 ms where a ``connect`` builds a whole database instance (~20 ms). ``validate=False``
    only attaches: a reader's quick queries, a writer's flushes of a file validated when it began.
    Release it with :func:`detach_trace`."""
    if read_only and create:
        raise ValueError("attach_trace: create=True needs read_only=False")
    path = Path(path)
    fresh = _check_file(path, read_only=read_only, create=create)
    mode = " (READ_ONLY)" if read_only else ""
    retry_while_locked(path, timeout, lambda: con.execute(f"ATTACH ? AS {alias}{mode}", [str(path)]))
    try:
        con.execute(f"USE {alias}")
        _prepare(con, path, fresh=fresh, create=create, validate=validate, read_only=read_only)
    except BaseException:
        detach_trace(con, alias)
        raise


def detach_trace(con: duckdb.DuckDBPyConnection, alias: str) -> None:
    """Leave and DETACH ``alias`` (a writable file is checkpointed, and its lock released)."""
    con.execute("USE memory")
    con.execute(f"DETACH DATABASE IF EXISTS {alias}")


def _prepare(con: duckdb.DuckDBPyConnection, path: Path, *, fresh: bool, create: bool, validate: bool, read_only: bool) -> None:
    """Make the schema in a new (or empty) file, then validate and migrate as asked (see :func:`open_trace`)."""
    if fresh or (create and validate and not _user_tables(con)):
        create_schema(con)
    if validate:
        _validate(con, path, read_only=read_only)


@contextmanager
def read_trace(path: str | Path, *, timeout: float = 5.0, validate: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to the trace at ``path`` for a few queries (validated first with
    ``validate=True``, as :func:`open_trace` does; same errors).

    The file is ATTACHed READ_ONLY to a cursor of an in-memory DuckDB that the process keeps, and
    DETACHed on exit, which releases it for a writer. That takes ~1.5 ms, against ~17 ms for a
    ``connect``, which builds a whole database instance whose cold start also slows the queries
    after it: by 20-70 ms each on a 10 M-event trace (docs/benchmarks/queries.md). Concurrent
    readers of one file (threads) each attach it under their own name.
    """
    con = read_host().cursor()
    alias = f"memscope_read_{next(_read_names)}"  # an integer: no user text in the SQL
    try:
        attach_trace(con, path, alias, read_only=True, validate=validate, timeout=timeout)
        try:
            yield con
        finally:
            detach_trace(con, alias)
    finally:
        con.close()


_read_names = itertools.count()


def create_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create every table of :data:`DDL` and the ``memscope_meta`` rows, in one transaction."""
    con.execute("BEGIN TRANSACTION")
    try:
        for statement in DDL.values():
            con.execute(statement)
        _fill_ops(con)
        con.execute(
            "INSERT OR REPLACE INTO memscope_meta VALUES (?, ?), (?, ?)",
            ["schema_version", str(SCHEMA_VERSION), "format", FORMAT_TAG],
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def _fill_ops(con: duckdb.DuckDBPyConnection) -> None:
    """The ``ops`` rows (code, op) of :data:`~tracing.schema.OPS`."""
    con.execute(
        f"INSERT INTO ops VALUES {', '.join('(?, ?)' for _ in OPS_ROWS)}",
        [value for row in OPS_ROWS for value in row],
    )


def migrate(con: duckdb.DuckDBPyConnection, path: Path, from_version: int) -> None:
    """Upgrade an open writable trace from ``from_version`` to :data:`SCHEMA_VERSION`, one step a time."""
    for version in range(from_version, SCHEMA_VERSION):
        step = MIGRATIONS.get(version)
        if step is None:
            raise SchemaVersionError(
                f"{path}: no migration from trace schema {version} to {version + 1}; "
                "re-record the trace with this memscope"
            )
        con.execute("BEGIN TRANSACTION")
        try:
            step(con)
            con.execute(
                "UPDATE memscope_meta SET value = ? WHERE key = 'schema_version'", [str(version + 1)]
            )
            con.execute("COMMIT")
        except (UnknownOpError, OutOfRangeError) as exc:
            con.execute("ROLLBACK")
            raise SchemaVersionError(f"{path}: cannot migrate from trace schema {version} to {version + 1}: {exc}") from None
        except BaseException:
            con.execute("ROLLBACK")
            raise


def schema_version_of(con: duckdb.DuckDBPyConnection) -> int:
    """The ``schema_version`` stored in an open trace's ``memscope_meta``."""
    row = con.execute("SELECT value FROM memscope_meta WHERE key = 'schema_version'").fetchall()[0]
    return int(row[0])


# -- file checks before DuckDB sees the file ---------------------------------------------------


def _check_file(path: Path, *, read_only: bool, create: bool) -> bool:
    """Refuse what is plainly not a trace; return True when a new trace is to be made here."""
    if path.is_dir():
        raise NotATraceError(f"{path} is a folder, not a trace file; pass a .duckdb file")
    if not path.exists():
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
            return True
        raise NotATraceError(f"{path} does not exist; check the path (memscope traces end in .duckdb)")
    size = path.stat().st_size
    if size == 0:
        if create and not read_only:
            path.unlink()  # DuckDB refuses a 0-byte file; an empty file holds nothing to keep
            return True
        raise NotATraceError(f"{path} is empty (0 bytes), not a memscope trace; record or import a trace into it")
    with path.open("rb") as handle:
        head = handle.read(_MAGIC_OFFSET + len(_DUCKDB_MAGIC))
    if head[_MAGIC_OFFSET:] != _DUCKDB_MAGIC:
        raise NotATraceError(f"{path} is not a DuckDB file (unknown header), so not a memscope trace; pick a .duckdb trace")
    return False


# -- connecting ----------------------------------------------------------------------------------


def _connect_with_retry(path: Path, *, read_only: bool, timeout: float) -> duckdb.DuckDBPyConnection:
    """``duckdb.connect`` that waits out lock conflicts (see :func:`retry_while_locked`)."""
    return retry_while_locked(path, timeout, lambda: duckdb.connect(str(path), read_only=read_only))


def retry_while_locked(path: Path, timeout: float, action: Callable[[], T]) -> T:
    """Run ``action`` (a connect, or an ``ATTACH`` of ``path``), waiting out lock conflicts with backoff
    (10 ms doubling to 50 ms: holds are short, and a short retry period lets a writer slip in between
    the queries of a polling reader). Other DuckDB errors become memscope errors at once."""
    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        try:
            return action()
        except duckdb.Error as exc:
            message = str(exc)
            if not any(marker in message for marker in _LOCK_MESSAGES):
                raise _translate(path, exc) from None
            if time.monotonic() + delay > deadline:
                holder = re.search(r"PID (\d+)", message)
                who = f"process {holder.group(1)}" if holder else "another connection"
                raise TraceLockedError(
                    f"{path} is held by {who} for more than {timeout:g} s; "
                    "wait for the writer to release it or stop that process"
                ) from None
            time.sleep(delay)
            delay = min(delay * 2, 0.05)


def is_damage(exc: duckdb.Error) -> bool:
    """True for the DuckDB errors of a damaged or truncated file (bad checksum, short read, ...)."""
    return isinstance(exc, (duckdb.SerializationException, duckdb.InternalException)) or any(
        marker in str(exc) for marker in _BROKEN_MESSAGES
    )


def _translate(path: Path, exc: duckdb.Error) -> Exception:
    """A DuckDB error on a file -> the memscope error that tells the user what to do."""
    message = " ".join(str(exc).split())
    if "version number" in message or "newer version" in message.lower():
        return SchemaVersionError(f"{path} was written by a newer DuckDB storage version; upgrade memscope ({message})")
    if is_damage(exc):
        return NotATraceError(f"{path} is damaged or truncated, not a readable DuckDB trace; re-record or re-import it")
    return NotATraceError(f"{path} could not be opened as a DuckDB trace: {message}")


# -- validation ----------------------------------------------------------------------------------


def _user_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        "SELECT table_name FROM duckdb_tables() "
        "WHERE database_name = current_database() AND schema_name = 'main' ORDER BY table_name"
    ).fetchall()
    return [name for (name,) in rows]


@functools.lru_cache(maxsize=1)
def expected_columns() -> dict[str, tuple[str, ...]]:
    """Column names of every table in :data:`DDL`, read from an in-memory DuckDB built from it."""
    con = duckdb.connect(":memory:")
    try:
        for statement in DDL.values():
            con.execute(statement)
        rows = con.execute(
            "SELECT table_name, column_name FROM duckdb_columns() "
            "WHERE database_name = current_database() ORDER BY table_name, column_index"
        ).fetchall()
    finally:
        con.close()
    columns: dict[str, list[str]] = {}
    for table, column in rows:
        columns.setdefault(table, []).append(column)
    return {table: tuple(names) for table, names in columns.items()}


def _validate(con: duckdb.DuckDBPyConnection, path: Path, *, read_only: bool) -> None:
    try:
        _check_size(con, path)
        version = _stored_version(con, path)
    except duckdb.Error as exc:  # a truncated file fails on its first real read
        raise _translate(path, exc) from None
    if version > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"{path} was written by a newer memscope (schema {version}; this one reads up to {SCHEMA_VERSION}); "
            "upgrade memscope"
        )
    if version < SCHEMA_VERSION:
        if read_only:
            raise SchemaVersionError(
                f"{path} uses the older trace schema {version} (current: {SCHEMA_VERSION}); "
                f"upgrade it with: memscope migrate {path}"
            )
        migrate(con, path, version)
    try:
        _check_columns(con, path)
    except duckdb.Error as exc:
        raise _translate(path, exc) from None


def _check_size(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """A file shorter than its header's block count says was cut (DuckDB would fail later, mid-query)."""
    block_size, total_blocks, free_blocks = con.execute(
        "SELECT block_size, total_blocks, free_blocks FROM pragma_database_size() "
        "WHERE database_name = current_database()"
    ).fetchall()[0]
    # free blocks at the end are cut off the file at checkpoint (the writer's flushes do that)
    expected = _FILE_HEADERS_BYTES + (int(total_blocks) - int(free_blocks)) * int(block_size)
    actual = path.stat().st_size
    if actual < expected:
        raise NotATraceError(
            f"{path} is damaged or truncated ({actual:,} of {expected:,} bytes), not a readable DuckDB trace; "
            "re-record or re-import it"
        )


def _stored_version(con: duckdb.DuckDBPyConnection, path: Path) -> int:
    """The file's schema version, after checking that it is a memscope trace at all."""
    tables = _user_tables(con)
    if "memscope_meta" not in tables:
        listed = ", ".join(tables[:8]) + (", ..." if len(tables) > 8 else "") if tables else "no tables"
        raise NotATraceError(
            f"{path} is a DuckDB database but not a memscope trace (no memscope_meta table; it has {listed}); "
            "pick a file written by memscope"
        )
    meta = dict(con.execute("SELECT key, value FROM memscope_meta").fetchall())
    if meta.get("format") != FORMAT_TAG:
        raise NotATraceError(
            f"{path} is a DuckDB database of format {meta.get('format')!r}, not {FORMAT_TAG!r}; "
            "pick a file written by memscope"
        )
    try:
        return int(meta["schema_version"])
    except (KeyError, ValueError):
        raise NotATraceError(
            f"{path} has no valid schema_version in memscope_meta ({meta.get('schema_version')!r}); "
            "the file is damaged: re-record or re-import it"
        ) from None


def _check_columns(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    rows = con.execute(
        "SELECT table_name, column_name FROM duckdb_columns() "
        "WHERE database_name = current_database() AND schema_name = 'main'"
    ).fetchall()
    present: dict[str, set[str]] = {}
    for table, column in rows:
        present.setdefault(table, set()).add(column)
    expected = expected_columns()
    missing_tables = [table for table in expected if table not in present]
    if missing_tables:
        raise NotATraceError(
            f"{path} is a damaged memscope trace: missing table(s) {', '.join(missing_tables)}; "
            "re-record or re-import it"
        )
    missing_columns = [
        f"{table}.{column}" for table, columns in expected.items() for column in columns if column not in present[table]
    ]
    if missing_columns:
        raise NotATraceError(
            f"{path} is a damaged memscope trace: missing column(s) {', '.join(missing_columns)}; "
            "re-record or re-import it"
        )
