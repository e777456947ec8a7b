"""Export runs of a trace to Parquet, hive-partitioned by run, and import them back identically.

Layout of an export folder ``OUT``::

    OUT/manifest.json                              format, schema version, runs, columns, row counts
    OUT/<table>/run_id=<url-quoted id>/part-0.parquet   one file per table and run

``<table>`` is every table of :data:`tracing.schema.TABLES` (``runs`` included). As in any hive
layout the partition column ``run_id`` lives in the folder name, not in the files, so DuckDB,
Spark, Trino or pyarrow read a table with hive partitioning on, for example
``read_parquet('OUT/memory_events/*/*.parquet', hive_partitioning = true)``.

Runs are read with bound parameters and streamed in record batches (memory stays bounded for
large runs); an import happens in one transaction (a failure leaves the trace as it was). The
export holds the logical layout (``memory_events`` and ``cell_states`` as their views show them:
run, memory, layer, head and op as text); the import maps those rows back onto the trace's streams
and op codes (:func:`tracing.appends.insert_logical`), refusing an unknown op or an out-of-range
value with a one-line reason.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from tracing.appends import insert_logical
from tracing.connection import expected_columns, is_damage, open_trace, schema_version_of
from tracing.errors import NotATraceError, SchemaVersionError, TraceError, UnknownRunError
from tracing.schema import FORMAT_TAG, SCHEMA_VERSION, TABLES

MANIFEST = "manifest.json"
EXPORT_KIND = "memscope-parquet-export"
PART_FILE = "part-0.parquet"
BATCH_ROWS = 1_000_000

Progress = Callable[[int, int], None]
"""``progress(rows_done, rows_total)`` is called after every record batch written or read."""


class _RowCounter:
    """Adds up rows and reports them to an optional :data:`Progress` callback."""

    def __init__(self, total: int, progress: Progress | None) -> None:
        self.total, self.done, self.progress = total, 0, progress

    def add(self, rows: int) -> None:
        self.done += rows
        if self.progress is not None:
            self.progress(self.done, self.total)


class RunExistsError(TraceError):
    """An imported run id is already in the target trace."""


def partition_dir(out_dir: Path, table: str, run_id: str) -> Path:
    """``out_dir/<table>/run_id=<id>`` with the id URL-quoted (any character is safe in a folder name)."""
    return out_dir / table / f"run_id={urllib.parse.quote(run_id, safe='')}"


def export_runs(
    trace: str | Path, run_ids: list[str] | None, out_dir: str | Path, progress: Progress | None = None
) -> dict[str, Any]:
    """Write the runs ``run_ids`` (``None``: every run) of ``trace`` under ``out_dir``; return the manifest."""
    trace, out_dir = Path(trace), Path(out_dir)
    con = open_trace(trace, read_only=True)
    try:
        known = [run_id for (run_id,) in con.execute("SELECT run_id FROM runs ORDER BY created, run_id").fetchall()]
        selected = known if run_ids is None else list(dict.fromkeys(run_ids))
        missing = [run_id for run_id in selected if run_id not in known]
        if missing:
            raise UnknownRunError(f"no run {missing[0]!r} in {trace}; `memscope runs {trace}` lists the runs")
        if out_dir.exists() and not out_dir.is_dir():
            raise TraceError(f"{out_dir} is a file, not a folder; pick a folder for --out")
        if (out_dir / MANIFEST).exists():
            raise TraceError(f"{out_dir} already holds an export ({MANIFEST}); pick an empty --out folder")
        columns = expected_columns()
        rows = {table: 0 for table in TABLES}
        counts = {
            (table, run_id): con.execute(f"SELECT count(*) FROM {table} WHERE run_id = $run_id", {"run_id": run_id}).fetchall()[0][0]
            for table in TABLES for run_id in selected  # table: a schema constant; run id bound
        }
        counter = _RowCounter(sum(counts.values()), progress)
        try:
            for table in TABLES:
                for run_id in selected:
                    rows[table] += _export_part(con, table, columns[table], run_id, partition_dir(out_dir, table, run_id), counter)
        except (duckdb.Error, OSError) as exc:  # a damaged block shows only when it is read
            if not (isinstance(exc, duckdb.Error) and is_damage(exc)) and "Corrupt" not in str(exc):
                raise
            raise NotATraceError(f"{trace} is damaged ({' '.join(str(exc).split())}); re-record or re-import it") from None
        manifest = {
            "kind": EXPORT_KIND,
            "format": FORMAT_TAG,
            "schema_version": schema_version_of(con),
            "partitioning": "hive:run_id",
            "runs": selected,
            "rows": rows,
            "columns": {table: [c for c in columns[table] if c != "run_id"] for table in TABLES},
        }
    finally:
        con.close()
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def _export_part(
    con: duckdb.DuckDBPyConnection, table: str, columns: tuple[str, ...], run_id: str, folder: Path, counter: _RowCounter
) -> int:
    """Stream one run's rows of one table into ``folder/part-0.parquet``; return the row count."""
    # table and column names come from the schema, never from the user; the run id is bound
    select = ", ".join(c for c in columns if c != "run_id")
    reader = con.sql(f"SELECT {select} FROM {table} WHERE run_id = $run_id", params={"run_id": run_id}).to_arrow_reader(BATCH_ROWS)
    folder.mkdir(parents=True, exist_ok=True)
    n = 0
    with pq.ParquetWriter(folder / PART_FILE, reader.schema) as writer:
        for batch in reader:
            writer.write_batch(batch)
            n += batch.num_rows
            counter.add(batch.num_rows)
    return n


def read_manifest(in_dir: str | Path) -> dict[str, Any]:
    """The manifest of an export folder, checked: raises NotATraceError / SchemaVersionError."""
    in_dir = Path(in_dir)
    path = in_dir / MANIFEST
    if not in_dir.is_dir():
        raise NotATraceError(f"{in_dir} is not a folder; pass the folder `memscope export` wrote")
    if not path.is_file():
        raise NotATraceError(f"{in_dir} is not a memscope Parquet export (no {MANIFEST}); pass the folder `memscope export` wrote")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise NotATraceError(f"{path} is not valid JSON; re-export the runs") from None
    if not isinstance(manifest, dict) or manifest.get("kind") != EXPORT_KIND or manifest.get("format") != FORMAT_TAG:
        raise NotATraceError(f"{path} is not a memscope export manifest; pass the folder `memscope export` wrote")
    version = manifest.get("schema_version")
    if not isinstance(version, int):
        raise NotATraceError(f"{path} has no schema_version; re-export the runs")
    if version > SCHEMA_VERSION:
        raise SchemaVersionError(f"{in_dir} was exported by a newer memscope (schema {version}); upgrade memscope")
    if version < SCHEMA_VERSION:
        raise SchemaVersionError(
            f"{in_dir} holds trace schema {version} (current: {SCHEMA_VERSION}); import it with the memscope "
            "that exported it, then run `memscope migrate` on that trace and export again"
        )
    if not isinstance(manifest.get("runs"), list) or not all(isinstance(r, str) for r in manifest["runs"]):
        raise NotATraceError(f"{path} lists no runs; re-export the runs")
    return manifest


def import_runs(in_dir: str | Path, trace: str | Path, progress: Progress | None = None) -> list[str]:
    """Add every run of the export ``in_dir`` to ``trace`` (created when missing); return the run ids."""
    in_dir, trace = Path(in_dir), Path(trace)
    manifest = read_manifest(in_dir)
    run_ids: list[str] = manifest["runs"]
    columns = expected_columns()
    parts = [(table, run_id) for table in TABLES for run_id in run_ids]
    for table, run_id in parts:  # check every file before touching the trace
        _check_part(partition_dir(in_dir, table, run_id) / PART_FILE, columns[table])
    con = open_trace(trace, read_only=False, create=True)
    try:
        present = {r for (r,) in con.execute("SELECT run_id FROM runs WHERE list_contains($ids, run_id)", {"ids": run_ids}).fetchall()}
        if present:
            raise RunExistsError(f"run {sorted(present)[0]!r} is already in {trace}; import into another trace file")
        con.execute("BEGIN TRANSACTION")
        try:
            counter = _RowCounter(sum(_part_rows(in_dir, table, run_id) for table, run_id in parts), progress)
            for table, run_id in parts:
                _import_part(con, table, run_id, partition_dir(in_dir, table, run_id) / PART_FILE, counter)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    finally:
        con.close()
    return run_ids


def _check_part(path: Path, columns: tuple[str, ...]) -> None:
    if not path.is_file():
        raise NotATraceError(f"{path} is missing from the export; re-export the runs")
    try:
        names = pq.read_schema(path).names
    except (pa.ArrowInvalid, OSError) as exc:
        raise NotATraceError(f"{path} is not a readable Parquet file ({' '.join(str(exc).split())}); re-export the runs") from None
    wanted = [c for c in columns if c != "run_id"]
    if names != wanted:
        missing = [c for c in wanted if c not in names]
        extra = [c for c in names if c not in wanted]
        detail = "; ".join(part for part in (
            f"missing {', '.join(missing)}" if missing else "",
            f"unexpected {', '.join(extra)}" if extra else "",
            "columns out of order" if not missing and not extra else "",
        ) if part)
        raise NotATraceError(f"{path} does not have the columns of a memscope trace table ({detail}); re-export the runs")


def _part_rows(in_dir: Path, table: str, run_id: str) -> int:
    return pq.ParquetFile(partition_dir(in_dir, table, run_id) / PART_FILE).metadata.num_rows


def _import_part(con: duckdb.DuckDBPyConnection, table: str, run_id: str, path: Path, counter: _RowCounter) -> None:
    """Insert one Parquet part, adding its run id, in record batches."""
    parquet = pq.ParquetFile(path)
    for batch in parquet.iter_batches(batch_size=BATCH_ROWS):
        data = pa.Table.from_batches([batch]).append_column("run_id", pa.repeat(pa.scalar(run_id, pa.string()), batch.num_rows))
        insert_logical(con, table, data)  # events and cell states onto the run's streams
        counter.add(batch.num_rows)
