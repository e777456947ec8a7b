"""memscope runs / info / export / import / migrate, through the real entry point ``app.cli.main``."""

from __future__ import annotations

import json

import duckdb
import numpy as np
import pytest

import tracing.connection as connection
from tracing.schema import SCHEMA_VERSION
from tracing.store import TraceStore
from tracing.writer import DuckDBRecorder
from tests.cli_helpers import run_cli as cli, one_line_error

HOSTILE_NAME = """Robert'); DROP TABLE runs;-- "q" [bold]markup[/bold] %s"""


@pytest.fixture
def trace(tmp_path):
    """Two runs written by the real writer: one with a hostile name, one with steps and moments."""
    path = tmp_path / "trace.duckdb"
    with DuckDBRecorder(path, name=HOSTILE_NAME, family="memnet", model="memnet-tiny", input="copy task") as rec:
        for step in range(5):
            rec.events(step=step, op="write", memory="slot", cell=np.arange(4), weight=np.ones(4))
    with DuckDBRecorder(path, name="lm", family="lm", model="tiny-lm", input="Once upon") as rec:
        rec.steps(step=np.arange(3), token_id=[1, 2, 3], entropy=[0.1, 2.0, 0.3])
        rec.moments(moment_id=0, step=1, memory="moment", trigger="entropy_spike", entropy=2.0)
        rec.metric("loss", 0.5, step=2)
    return path


def test_runs_table_and_json(trace, capsys):
    code, out, _ = cli(["runs", str(trace), "--json"], capsys)
    rows = json.loads(out)
    assert [(r["name"], r["status"], r["family"], r["n_steps"], r["n_events"], r["n_moments"]) for r in rows] == [
        (HOSTILE_NAME, "complete", "memnet", 5, 20, 0),
        ("lm", "complete", "lm", 3, 0, 1),
    ]
    code, out, err = cli(["runs", str(trace)], capsys)
    assert code == 0 and err == ""
    assert HOSTILE_NAME in out  # verbatim: no markup, no folding
    assert all(row["run_id"] in out for row in rows)
    for header in ("run id", "name", "status", "family", "model", "input", "steps", "events", "moments"):
        assert header in out


def test_info(trace, capsys):
    code, out, _ = cli(["info", str(trace)], capsys)
    assert code == 0
    assert f"schema version  {SCHEMA_VERSION}" in out and "memory_events" in out
    code, out, _ = cli(["info", str(trace), "--json"], capsys)
    info = json.loads(out)
    assert info["tables"]["memory_events"] == 20 and info["tables"]["runs"] == 2
    assert info["size_bytes"] == trace.stat().st_size


def test_export_import_round_trip(trace, tmp_path, capsys):
    runs = TraceStore(trace).runs()
    first = runs["run_id"].iloc[0]
    code, out, err = cli(["export", str(trace), "--run", first, "--format", "parquet", "--out", str(tmp_path / "one")], capsys)
    assert code == 0 and "exported 1 run(s)" in out, err
    code, out, _ = cli(["export", str(trace), "--all", "--out", str(tmp_path / "all")], capsys)
    assert code == 0 and "exported 2 run(s)" in out
    target = tmp_path / "copy.duckdb"
    code, out, _ = cli(["import", str(tmp_path / "all"), "--out", str(target)], capsys)
    assert code == 0 and "imported 2 run(s)" in out
    copied = TraceStore(target)
    assert copied.runs().equals(runs)
    assert copied.info()["tables"] == TraceStore(trace).info()["tables"]
    code, out, _ = cli(["runs", str(target)], capsys)
    assert HOSTILE_NAME in out


@pytest.mark.parametrize(
    "extra, phrase",
    [
        ([], "--run ID (repeatable) or --all"),
        (["--all", "--run", "x"], "--run ID (repeatable) or --all"),
        (["--run", "no-such-run"], "no run 'no-such-run'"),
        (["--all", "--format", "csv"], "unknown --format 'csv'"),
    ],
)
def test_export_bad_arguments(trace, tmp_path, capsys, extra, phrase):
    code, _, err = cli(["export", str(trace), "--out", str(tmp_path / "out"), *extra], capsys)
    assert one_line_error(code, err, phrase), err


def test_export_to_a_file_is_refused(trace, tmp_path, capsys):
    target = tmp_path / "a_file"
    target.write_text("x")
    code, _, err = cli(["export", str(trace), "--all", "--out", str(target)], capsys)
    assert one_line_error(code, err, "is a file, not a folder")


def test_import_twice_is_refused(trace, tmp_path, capsys):
    cli(["export", str(trace), "--all", "--out", str(tmp_path / "ex")], capsys)
    code, _, err = cli(["export", str(trace), "--all", "--out", str(tmp_path / "ex")], capsys)
    assert one_line_error(code, err, "already holds an export")
    code, _, err = cli(["import", str(tmp_path / "ex"), "--out", str(trace)], capsys)
    assert one_line_error(code, err, "is already in")


def test_index(trace, capsys):
    store = TraceStore(trace)
    runs = store.runs()["run_id"].tolist()
    raw = store.lifecycles(runs[0])
    code, out, _ = cli(["index", str(trace)], capsys)
    assert code == 0 and out.strip() == f"indexed 2 run(s) in {trace}: {runs[0]}, {runs[1]}"
    assert store.lifecycles(runs[0]).equals(raw)
    code, _, err = cli(["index", str(trace), "--run", "missing"], capsys)
    assert one_line_error(code, err, "no run 'missing'")


def test_migrate_current_and_older(trace, capsys, monkeypatch):
    code, out, _ = cli(["migrate", str(trace)], capsys)
    assert code == 0 and f"already at schema {SCHEMA_VERSION}" in out
    # pretend this memscope reads schema N+1 and knows how to get there
    monkeypatch.setattr(connection, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    monkeypatch.setattr(connection, "MIGRATIONS", {SCHEMA_VERSION: lambda con: con.execute("ALTER TABLE runs ADD COLUMN tags VARCHAR")})
    code, _, err = cli(["runs", str(trace)], capsys)
    assert one_line_error(code, err, f"memscope migrate {trace}")
    code, out, _ = cli(["migrate", str(trace)], capsys)
    assert code == 0 and f"migrated from schema {SCHEMA_VERSION} to schema {SCHEMA_VERSION + 1}" in out
    con = duckdb.connect(str(trace), read_only=True)
    assert "tags" in [row[0] for row in con.execute("DESCRIBE runs").fetchall()]
    con.close()
    code, _, _ = cli(["runs", str(trace)], capsys)
    assert code == 0


def test_migrate_refuses_non_trace(tmp_path, capsys):
    bad = tmp_path / "x.duckdb"
    bad.write_bytes(b"\x00" * 5000)
    code, _, err = cli(["migrate", str(bad)], capsys)
    assert one_line_error(code, err, "not a DuckDB file")


@pytest.mark.parametrize("command", ["runs", "info", "export", "import", "index", "migrate", "app"])
def test_every_command_has_help(command, capsys):
    code, out, _ = cli([command, "--help"], capsys)
    assert code == 0 and "Usage" in out
