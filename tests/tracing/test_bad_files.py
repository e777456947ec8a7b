"""Every kind of bad file raises its specific error, and the CLI says it in one line without a traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tracing.connection import open_trace
from tracing.errors import NotATraceError, SchemaVersionError
from tracing.parquet import export_runs, partition_dir
from tracing.schema import SCHEMA_VERSION
from tracing.store import TraceStore
from tests.cli_helpers import run_cli as cli


def _random_bytes(path, kit):
    path.write_bytes(os.urandom(50_000))


def _truncated(path, kit):
    kit.write_trace(path, [(kit.run_row("r"), {})])
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _empty(path, kit):
    path.write_bytes(b"")


def _newer_schema(path, kit):
    kit.write_trace(path, [(kit.run_row("r"), {})])
    con = duckdb.connect(str(path))
    con.execute("UPDATE memscope_meta SET value = ? WHERE key = 'schema_version'", [str(SCHEMA_VERSION + 5)])
    con.close()


def _missing_tables(path, kit):
    con = open_trace(path, read_only=False, create=True)
    con.execute("DROP VIEW cell_states")
    con.close()


def _foreign(path, kit):
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE orders (id INTEGER, customer VARCHAR)")
    con.close()


BAD_FILES = {
    "random bytes": (_random_bytes, NotATraceError, "not a DuckDB file"),
    "truncated": (_truncated, NotATraceError, "damaged or truncated"),
    "empty": (_empty, NotATraceError, "empty (0 bytes)"),
    "newer schema": (_newer_schema, SchemaVersionError, f"newer memscope (schema {SCHEMA_VERSION + 5}"),
    "missing tables": (_missing_tables, NotATraceError, "missing table(s) cell_states"),
    "foreign duckdb": (_foreign, NotATraceError, "not a memscope trace (no memscope_meta table; it has orders)"),
}


def assert_one_line_error(code, err, phrase):
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and phrase in lines[0], err
    assert "Traceback" not in err


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_file_raises_specific_error(case, trace_path, kit):
    make, error, phrase = BAD_FILES[case]
    make(trace_path, kit)
    before = kit.file_digest(trace_path)
    with pytest.raises(error) as raised:
        TraceStore(trace_path)
    assert phrase in str(raised.value)
    assert type(raised.value) is error
    assert kit.file_digest(trace_path) == before  # reading never changes the file


@pytest.mark.parametrize("case", list(BAD_FILES))
@pytest.mark.parametrize("command", ["runs", "info", "export"])
def test_bad_file_in_cli_is_one_line(case, command, trace_path, kit, capsys, tmp_path):
    make, _, phrase = BAD_FILES[case]
    make(trace_path, kit)
    argv = [command, str(trace_path)] + (["--all", "--out", str(tmp_path / "out")] if command == "export" else [])
    code, _, err = cli(argv, capsys)
    assert_one_line_error(code, err, phrase)


def test_parquet_with_wrong_columns_in_cli(trace_path, kit, capsys, tmp_path):
    kit.write_trace(trace_path, [(kit.run_row("r"), {})])
    export_runs(trace_path, ["r"], tmp_path / "ex")
    part = partition_dir(tmp_path / "ex", "steps", "r") / "part-0.parquet"
    pq.write_table(pa.table({"step": [1], "surprise": [0.5]}), part)
    code, _, err = cli(["import", str(tmp_path / "ex"), "--out", str(tmp_path / "new.duckdb")], capsys)
    assert_one_line_error(code, err, "does not have the columns of a memscope trace table")
    code, _, err = cli(["import", str(tmp_path), "--out", str(tmp_path / "new.duckdb")], capsys)
    assert_one_line_error(code, err, "no manifest.json")
    assert not (tmp_path / "new.duckdb").exists()


def test_real_entry_point_prints_one_line(trace_path, kit):
    """The installed console script, in its own process: one stderr line, exit 2, no traceback."""
    _truncated(trace_path, kit)
    memscope = os.path.join(os.path.dirname(sys.executable), "memscope")
    done = subprocess.run([memscope, "runs", str(trace_path)], capture_output=True, text=True, timeout=120)
    assert_one_line_error(done.returncode, done.stderr, "damaged or truncated")
    assert done.stdout == ""


def test_damaged_block_found_mid_query_is_one_line(trace_path, kit, capsys, tmp_path):
    """Garbage inside a data block passes the open (header and catalog are intact) and fails on read."""
    rec_tables = kit.recorded("r", lambda rec: rec.events(step=np.arange(300_000) // 64, op="read", memory="slot",
                                                          cell=np.arange(300_000) % 64, weight=np.random.default_rng(0).random(300_000)))
    kit.write_trace(trace_path, [(kit.run_row("r"), rec_tables)])
    con = duckdb.connect(str(trace_path), read_only=True)
    block_size = con.execute("SELECT block_size FROM pragma_database_size()").fetchone()[0]
    (block,) = con.execute(  # a block holding the weights the heatmap below reads
        "SELECT max(block_id) FROM pragma_storage_info('stream_events') WHERE column_name = 'weight' AND block_id >= 0"
    ).fetchone()
    con.close()
    with trace_path.open("r+b") as handle:
        handle.seek(3 * 4096 + block * block_size + 64)  # past the 3 file headers and the block's checksum
        handle.write(os.urandom(block_size // 2))
    store = TraceStore(trace_path)
    with pytest.raises(NotATraceError, match="is damaged"):
        store.heatmap("r", "read", agg="weight")
    code, _, err = cli(["export", str(trace_path), "--all", "--out", str(tmp_path / "out")], capsys)
    assert_one_line_error(code, err, "damaged")
