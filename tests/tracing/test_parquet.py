"""Parquet export (hive-partitioned by run) and import: identity, subsets, bad folders."""

from __future__ import annotations

import json

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tracing.connection import expected_columns
from tracing.errors import NotATraceError, SchemaVersionError, UnknownRunError
from tracing.parquet import MANIFEST, RunExistsError, export_runs, import_runs, partition_dir
from tracing.schema import SCHEMA_VERSION, TABLES

ODD_ID = "run/'quoted' \"x\""


def everything(rec):
    """A few rows in every table, list columns and NULLs included."""
    rec.steps(step=np.arange(4), token_id=np.arange(4), token_text=["a", "b'", None, "d"], entropy=np.ones(4),
              kl=np.arange(4) * 0.1, topk_ids=np.arange(8).reshape(4, 2),
              topk_probs=np.full((4, 2), 0.5))
    rec.events(step=[0, 1, 2], op="write", memory="slot", layer=1, head=[0, 1, 0], cell=[3, 4, 5], weight=[0.5, 0.25, 1.0])
    rec.events(step=3, op="merge", memory="moment", cell=1, other_cell=0, gate=0.5)
    rec.cell_states(step=[0, 1], memory="slot", cell=[3, 4], age=[1.0, 2.0], usage=[0.5, 0.5], norm=[1.5, 2.5])
    rec.moments(moment_id=0, step=2, memory="moment", trigger="kl_spike", kl=2.0, topk_ids=[[1, 2, 3]],
                topk_probs=[[0.5, 0.3, 0.2]], context_hash="h", context_text="ctx", embedding=np.ones((1, 4)))
    rec.metric("loss", 1.5, step=3)
    rec.metric("accuracy", 0.5, x=16.0, series="lstm")


@pytest.fixture
def source(tmp_path, kit):
    path = tmp_path / "source.duckdb"
    return kit.write_trace(path, [
        (kit.run_row("a"), kit.recorded("a", everything)),
        (kit.run_row(ODD_ID, name="it's \"odd\"", status="crashed", finished=None), kit.recorded(ODD_ID, everything)),
        (kit.run_row("c", created=kit.T0.replace(hour=1)), kit.recorded("c", everything)),
    ])


def table_rows(path, table, run_ids=None):
    """Every row of a table, as sorted tuples (order normalised), lists as tuples."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        cols = ", ".join(expected_columns()[table])
        rows = con.execute(f"SELECT {cols} FROM {table}").fetchall()
    finally:
        con.close()
    norm = [tuple(tuple(v) if isinstance(v, list) else v for v in row) for row in rows]
    if run_ids is not None:
        norm = [row for row in norm if row[0] in run_ids]
    return sorted(norm, key=repr)


def test_round_trip_every_table(source, tmp_path, kit):
    out = tmp_path / "export"
    calls = []
    before = kit.file_digest(source)
    manifest = export_runs(source, None, out, progress=lambda done, total: calls.append((done, total)))
    assert kit.file_digest(source) == before  # export only reads
    assert manifest["runs"] == ["a", ODD_ID, "c"] and manifest["schema_version"] == SCHEMA_VERSION
    total_rows = sum(manifest["rows"].values())
    assert calls[-1] == (total_rows, total_rows) and [done for done, _ in calls] == sorted(done for done, _ in calls)
    target = tmp_path / "target.duckdb"
    imported = []
    assert import_runs(out, target, progress=lambda done, total: imported.append((done, total))) == ["a", ODD_ID, "c"]
    assert imported[-1] == (total_rows, total_rows)
    for table in TABLES:
        assert table_rows(target, table) == table_rows(source, table), table
        assert len(table_rows(target, table)) > 0


def test_hive_layout_is_readable_by_plain_duckdb(source, tmp_path):
    out = tmp_path / "export"
    export_runs(source, ["a", ODD_ID], out)
    assert (partition_dir(out, "memory_events", ODD_ID) / "part-0.parquet").is_file()
    con = duckdb.connect()
    rows = con.execute(
        "SELECT run_id, count(*) FROM read_parquet($glob, hive_partitioning = true) GROUP BY run_id ORDER BY run_id",
        {"glob": str(out / "memory_events" / "*" / "*.parquet")},
    ).fetchall()
    assert rows == [("a", 4), (ODD_ID, 4)]
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["rows"]["memory_events"] == 8 and manifest["partitioning"] == "hive:run_id"


def test_import_subset_into_existing_trace(source, tmp_path, kit):
    out = tmp_path / "export"
    export_runs(source, [ODD_ID], out)
    target = kit.write_trace(tmp_path / "existing.duckdb", [(kit.run_row("mine"), kit.recorded("mine", everything))])
    import_runs(out, target)
    for table in TABLES:
        assert table_rows(target, table, {ODD_ID}) == table_rows(source, table, {ODD_ID})
        assert table_rows(target, table, {"mine"})  # the trace's own run is kept
    with pytest.raises(RunExistsError, match="already in"):
        import_runs(out, target)
    assert len(table_rows(target, "memory_events")) == 8  # the refused import added nothing


def test_export_unknown_run_and_existing_export(source, tmp_path):
    with pytest.raises(UnknownRunError, match="no run 'zzz'"):
        export_runs(source, ["a", "zzz"], tmp_path / "x")
    export_runs(source, ["a"], tmp_path / "y")
    with pytest.raises(Exception, match="already holds an export"):
        export_runs(source, ["a"], tmp_path / "y")


def test_missing_manifest(tmp_path):
    (tmp_path / "steps").mkdir()
    with pytest.raises(NotATraceError, match="no manifest.json"):
        import_runs(tmp_path, tmp_path / "t.duckdb")
    assert not (tmp_path / "t.duckdb").exists()


def test_foreign_manifest_and_newer_version(source, tmp_path):
    out = tmp_path / "export"
    export_runs(source, ["a"], out)
    manifest = json.loads((out / MANIFEST).read_text())
    (out / MANIFEST).write_text(json.dumps(dict(manifest, schema_version=99)))
    with pytest.raises(SchemaVersionError, match="newer memscope"):
        import_runs(out, tmp_path / "t.duckdb")
    (out / MANIFEST).write_text(json.dumps(dict(manifest, kind="something-else")))
    with pytest.raises(NotATraceError, match="not a memscope export manifest"):
        import_runs(out, tmp_path / "t.duckdb")
    (out / MANIFEST).write_text("{not json")
    with pytest.raises(NotATraceError, match="not valid JSON"):
        import_runs(out, tmp_path / "t.duckdb")


def test_parquet_with_wrong_columns(source, tmp_path):
    out = tmp_path / "export"
    export_runs(source, ["a"], out)
    part = partition_dir(out, "memory_events", "a") / "part-0.parquet"
    table = pq.read_table(part).drop_columns(["gate"]).append_column("colour", pa.array(["red"] * 4))
    pq.write_table(table, part)
    with pytest.raises(NotATraceError, match="missing gate; unexpected colour"):
        import_runs(out, tmp_path / "t.duckdb")
    assert not (tmp_path / "t.duckdb").exists()
    part.write_bytes(b"garbage")
    with pytest.raises(NotATraceError, match="not a readable Parquet file"):
        import_runs(out, tmp_path / "t.duckdb")
    part.unlink()
    with pytest.raises(NotATraceError, match="missing from the export"):
        import_runs(out, tmp_path / "t.duckdb")
