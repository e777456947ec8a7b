"""Appending rows to a trace: the lean per-stream tables, the logical tables, and the streams they need.

Three ways in, one layout (:mod:`tracing.schema`):

- :func:`append_lean`: the writer's hot path. Arrow data (a table or a batch reader) already in the
  physical layout of ``stream_events`` / ``stream_states`` (file stream ids) goes in with ONE
  ``INSERT ... SELECT *``.
- :func:`append_logical`: ``steps``, ``moments``, ``metrics`` without a ``run_id`` column, which is
  supplied as one bound value (no string built per row).
- :func:`insert_logical`: rows of ANY logical table with their ``run_id`` (a Parquet import, a test
  fixture): ``memory_events`` / ``cell_states`` rows are mapped onto streams (registered when new),
  op codes and narrow integers in SQL, after a check that gives a one-line reason for an unknown
  op or a value out of range. :func:`copy_logical` does the same from a table of the file
  (the v1 -> v2 migration).

Table and view names in SQL text are constants of this module and of the schema, never user text.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from tracing.schema import LIMITS, OPS, STREAM_SCHEMAS, STREAM_TABLES, OutOfRangeError, UnknownOpError

_VIEW = "memscope_incoming"

_STREAM_COLUMNS: dict[str, tuple[str, ...]] = {
    physical: tuple(schema.names[1:]) for physical, schema in STREAM_SCHEMAS.items()
}
"""Columns of each physical table after ``stream``."""


def next_stream_id(con: duckdb.DuckDBPyConnection) -> int:
    """The first stream id not yet used in the file (call inside the transaction that registers)."""
    return int(con.execute("SELECT coalesce(max(stream) + 1, 0) FROM streams").fetchall()[0][0])


def register_streams(con: duckdb.DuckDBPyConnection, rows: list[tuple[int, str, str, int, int]]) -> None:
    """Insert ``(stream, run_id, memory, layer, head)`` rows into ``streams`` (one statement)."""
    if not rows:
        return
    columns = list(zip(*rows))
    data = pa.table(
        {
            "stream": pa.array(columns[0], pa.int32()),
            "run_id": pa.array(columns[1], pa.string()),
            "memory": pa.array(columns[2], pa.string()),
            "layer": pa.array(columns[3], pa.int16()),
            "head": pa.array(columns[4], pa.int16()),
        }
    )
    _insert_view(con, "INSERT INTO streams BY NAME SELECT * FROM memscope_incoming", data)


def append_lean(con: duckdb.DuckDBPyConnection, physical: str, data: pa.Table | pa.RecordBatchReader) -> None:
    """Append ``data`` (``STREAM_SCHEMAS[physical]`` layout, file stream ids) to ``physical``: ONE
    statement, whose batches DuckDB appends in parallel (row-group-sized batches append fastest)."""
    if physical not in STREAM_SCHEMAS:
        raise ValueError(f"not a per-stream trace table: {physical!r}")
    _insert_view(con, f"INSERT INTO {physical} SELECT * FROM {_VIEW}", data)


def append_logical(con: duckdb.DuckDBPyConnection, table: str, data: pa.Table | pa.RecordBatchReader, run_id: str) -> None:
    """Append ``data`` (a logical table's columns, without ``run_id``) as rows of ``run_id``."""
    if table not in ("steps", "moments", "metrics"):
        raise ValueError(f"not a logical trace table: {table!r}")
    _insert_view(con, f"INSERT INTO {table} BY NAME SELECT ?::VARCHAR AS run_id, * FROM {_VIEW}", data, [run_id])


def insert_logical(con: duckdb.DuckDBPyConnection, table: str, data: pa.Table) -> None:
    """Insert rows of logical ``table`` that carry their ``run_id`` (any table of ``TABLES``).

    ``memory_events`` / ``cell_states`` rows keep their order; raises ``UnknownOpError`` or
    ``OutOfRangeError`` (nothing inserted) when they do not fit the trace."""
    if table not in STREAM_TABLES:
        _insert_view(con, f"INSERT INTO {table} BY NAME SELECT * FROM {_VIEW}", data)
        return
    ordered = data.append_column("memscope_seq", pa.array(range(data.num_rows), pa.int64()))
    con.register(_VIEW, ordered)
    try:
        copy_logical(con, table, _VIEW, "memscope_seq")
    finally:
        con.unregister(_VIEW)


def copy_logical(con: duckdb.DuckDBPyConnection, table: str, source: str, order: str) -> None:
    """Copy logical ``table`` rows from relation ``source`` (ordered by its column ``order``) into the
    physical table, registering their streams. ``source``/``order`` are constants of the caller."""
    _check_fits(con, table, source)
    physical = STREAM_TABLES[table]
    con.execute(
        f"""
        INSERT INTO streams
        SELECT (SELECT coalesce(max(stream) + 1, 0) FROM streams) + row_number() OVER (ORDER BY first) - 1,
               run_id, memory, layer, head
        FROM (SELECT run_id, memory, layer, head, min({order}) AS first FROM {source} GROUP BY ALL) AS seen
        WHERE NOT EXISTS (
            SELECT 1 FROM streams AS s
            WHERE s.run_id = seen.run_id AND s.memory = seen.memory AND s.layer = seen.layer AND s.head = seen.head
        )"""
    )
    values = ", ".join("o.code" if c == "op" else f"i.{c}" for c in _STREAM_COLUMNS[physical])
    ops = "JOIN ops AS o ON o.op = i.op" if table == "memory_events" else ""
    con.execute(
        f"""
        INSERT INTO {physical}
        SELECT s.stream, {values}
        FROM {source} AS i JOIN streams AS s USING (run_id, memory, layer, head) {ops}
        ORDER BY i.{order}"""
    )


def _check_fits(con: duckdb.DuckDBPyConnection, table: str, source: str) -> None:
    """Raise a one-line error for an op not in OPS or an integer outside LIMITS in ``source``."""
    if table == "memory_events":
        unknown = con.execute(
            f"SELECT DISTINCT op FROM {source} WHERE op IS NULL OR NOT list_contains($ops, op) LIMIT 3", {"ops": list(OPS)}
        ).fetchall()
        if unknown:
            raise UnknownOpError(f"{table}: unknown op(s) {', '.join(repr(r[0]) for r in unknown)}; a trace holds {', '.join(OPS)}")
    columns = [c for c in LIMITS if c in _STREAM_COLUMNS[STREAM_TABLES[table]] or c in ("layer", "head")]
    ranges = con.execute(f"SELECT {', '.join(f'min({c}), max({c})' for c in columns)} FROM {source}").fetchall()[0]
    for index, name in enumerate(columns):
        low, high = ranges[2 * index], ranges[2 * index + 1]
        lo, hi = LIMITS[name]
        if low is not None and (low < lo or high > hi):
            bad = low if low < lo else high
            raise OutOfRangeError(f"{table}.{name} = {bad:,} does not fit the trace's {name} column (from {lo:,} to {hi:,})")


def _insert_view(
    con: duckdb.DuckDBPyConnection, statement: str, data: pa.Table | pa.RecordBatchReader, params: list | None = None
) -> None:
    con.register(_VIEW, data)
    try:
        con.execute(statement, params or [])
    finally:
        con.unregister(_VIEW)
