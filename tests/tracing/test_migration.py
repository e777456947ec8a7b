"""Schema 1 -> 2: a trace written with the v1 layout (memory_events / cell_states as wide tables with
VARCHAR run, memory and op) opens read-only with the migrate hint, migrates in place to the
per-stream layout, and then answers exactly like a trace recorded with this memscope."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from tests.cli_helpers import one_line_error, run_cli
from tracing.connection import open_trace, schema_version_of
from tracing.errors import SchemaVersionError
from tracing.recorder import MemoryRecorder
from tracing.schema import DDL, FORMAT_TAG, SCHEMA_VERSION
from tracing.store import TraceStore, index_runs
from tracing.writer import DuckDBRecorder

V1_TABLES = {
    "memory_events": """CREATE TABLE memory_events (run_id VARCHAR NOT NULL, step BIGINT NOT NULL, batch INTEGER NOT NULL,
        memory VARCHAR NOT NULL, layer SMALLINT NOT NULL, head SMALLINT NOT NULL, cell BIGINT NOT NULL, op VARCHAR NOT NULL,
        weight FLOAT, gate FLOAT, other_cell BIGINT)""",
    "cell_states": """CREATE TABLE cell_states (run_id VARCHAR NOT NULL, step BIGINT NOT NULL, batch INTEGER NOT NULL,
        memory VARCHAR NOT NULL, layer SMALLINT NOT NULL, head SMALLINT NOT NULL, cell BIGINT NOT NULL,
        age FLOAT, usage FLOAT, norm FLOAT)""",
}
"""The two tables as schema 1 stored them (the other tables did not change)."""


def record(rec) -> None:
    """Two runs' worth of calls: several streams, every death op, same-step ties, cell states."""
    rec.events(step=[0, 0, 1, 2], op="write", memory="slot", head=[0, 1, 0, 1], cell=[3, 3, 4, 3], weight=[0.5, 0.25, 1.0, 2.0])
    rec.events(step=2, op="evict", memory="slot", head=1, cell=3)
    rec.events(step=3, op="read", memory="slot", layer=1, head=np.array([0, 1]), batch=np.array([0, 1]), cell=[4, 4], weight=0.5)
    rec.events(step=4, op="merge", memory="moment", cell=7, other_cell=2, gate=0.5)
    rec.events(step=5, op="decay", memory="slot", cell=4)
    rec.cell_states(step=[1, 2], memory="slot", head=1, cell=[3, 3], age=[1.0, 2.0], usage=0.5)


def write_v1(path, runs: dict[str, MemoryRecorder], extra_sql: str | None = None) -> None:
    """A schema-1 trace holding each recorder's rows (v1 layout), in recording order."""
    con = duckdb.connect(str(path))
    for name, statement in DDL.items():
        if name in V1_TABLES:
            con.execute(V1_TABLES[name])
        elif name not in ("streams", "ops", "stream_events", "stream_states"):
            con.execute(statement)
    con.execute("INSERT INTO memscope_meta VALUES ('schema_version', '1'), ('format', ?)", [FORMAT_TAG])
    for run_id, rec in runs.items():
        con.execute("INSERT INTO runs (run_id, created, status, family, schema_version) VALUES (?, now(), 'complete', 'memnet', 1)", [run_id])
        for table, data in rec.tables().items():
            con.register("incoming", data)
            con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM incoming")
            con.unregister("incoming")
    con.execute("CREATE TABLE memscope_rollups (run_id VARCHAR PRIMARY KEY, built TIMESTAMP, n_events BIGINT)")
    if extra_sql:
        con.execute(extra_sql)
    con.close()


def recorded(run_id: str) -> MemoryRecorder:
    rec = MemoryRecorder(run_id)
    record(rec)
    return rec


def rows(path, table: str) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(f"SELECT * FROM {table}").fetchall()  # v1: table order; v2: the view's recording order
    finally:
        con.close()


@pytest.fixture
def v1_trace(tmp_path):
    path = tmp_path / "v1.duckdb"
    write_v1(path, {"a": recorded("a"), "b 'quoted'": recorded("b 'quoted'")})
    return path


def test_v1_read_only_names_the_migrate_command_and_leaves_the_file(v1_trace, kit):
    before = kit.file_digest(v1_trace)
    with pytest.raises(SchemaVersionError, match=f"older trace schema 1 \\(current: {SCHEMA_VERSION}\\).*memscope migrate"):
        TraceStore(v1_trace)
    assert kit.file_digest(v1_trace) == before


def test_migration_keeps_every_row_in_order_and_answers_like_a_fresh_trace(v1_trace, tmp_path, kit):
    before = {table: rows(v1_trace, table) for table in ("memory_events", "cell_states", "runs", "steps")}
    con = open_trace(v1_trace, read_only=False)  # writable open migrates
    assert schema_version_of(con) == SCHEMA_VERSION
    streams = con.execute("SELECT run_id, memory, layer, head FROM streams ORDER BY stream").fetchall()
    tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    con.close()
    assert streams[:4] == [("a", "slot", 0, 0), ("a", "slot", 0, 1), ("a", "slot", 1, 0), ("a", "slot", 1, 1)]
    assert len(streams) == 2 * 5 and len(set(streams)) == 10
    assert "memscope_rollups" not in tables and not {"memory_events", "cell_states"} & tables  # now views
    for table, old in before.items():
        assert rows(v1_trace, table) == old, table
    fresh = kit.write_trace(tmp_path / "fresh.duckdb", [(kit.run_row("a"), recorded("a").tables())])
    migrated, direct = TraceStore(v1_trace), TraceStore(fresh)
    pd.testing.assert_frame_equal(migrated.lifecycles("a"), direct.lifecycles("a"))
    pd.testing.assert_frame_equal(migrated.events("a"), direct.events("a"))
    pd.testing.assert_frame_equal(migrated.heatmap("a", "usage").frame, direct.heatmap("a", "usage").frame)
    assert index_runs(v1_trace) == ["a", "b 'quoted'"]  # the dropped rollups are rebuilt by indexing
    pd.testing.assert_frame_equal(TraceStore(v1_trace).lifecycles("a"), direct.lifecycles("a"))


def test_a_recorder_on_a_v1_trace_migrates_it_and_adds_its_run(v1_trace):
    before = rows(v1_trace, "memory_events")
    with DuckDBRecorder(v1_trace, name="new", family="memnet", index_on_finish=False) as rec:
        rec.events(step=9, op="write", memory="slot", cell=[1, 2])
    con = open_trace(v1_trace, read_only=True)  # no migrate hint: the recorder's first hold migrated it
    try:
        assert schema_version_of(con) == SCHEMA_VERSION
        added = con.execute("SELECT run_id FROM runs WHERE name = 'new'").fetchone()[0]
    finally:
        con.close()
    assert added == rec.run_id
    after = rows(v1_trace, "memory_events")
    assert [row for row in after if row[0] != rec.run_id] == before and len(after) == len(before) + 2


def test_migrate_command_reports_the_versions(v1_trace, capsys):
    code, out, _ = run_cli(["migrate", v1_trace], capsys)
    assert code == 0 and f"migrated from schema 1 to schema {SCHEMA_VERSION}" in out
    code, out, _ = run_cli(["migrate", v1_trace], capsys)
    assert code == 0 and "already at schema" in out


@pytest.mark.parametrize(
    ("extra_sql", "reason"),
    [
        ("INSERT INTO memory_events VALUES ('a', 9, 0, 'slot', 0, 0, 1, 'teleport', NULL, NULL, NULL)", "unknown op.*'teleport'"),
        ("INSERT INTO memory_events VALUES ('a', 9, 0, 'slot', 0, 0, 5000000000, 'read', NULL, NULL, NULL)", "cell = 5,000,000,000 does not fit"),
        ("INSERT INTO cell_states VALUES ('a', 9, 70000, 'slot', 0, 0, 1, NULL, NULL, NULL)", "batch = 70,000 does not fit"),
    ],
)
def test_rows_that_do_not_fit_stop_the_migration_with_a_reason_and_change_nothing(tmp_path, capsys, extra_sql, reason):
    path = tmp_path / "v1.duckdb"
    write_v1(path, {"a": recorded("a")}, extra_sql)
    before = rows(path, "memory_events")
    with pytest.raises(SchemaVersionError, match=f"cannot migrate from trace schema 1 to 2: .*{reason}"):
        open_trace(path, read_only=False).close()
    code, _, err = run_cli(["migrate", path], capsys)
    assert one_line_error(code, err, "cannot migrate")
    con = duckdb.connect(str(path), read_only=True)
    assert schema_version_of(con) == 1  # rolled back: still the v1 tables, same rows
    con.close()
    assert rows(path, "memory_events") == before
