"""Helpers that build small trace files by hand: a run row plus what a MemoryRecorder captured."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from tracing.appends import insert_logical
from tracing.connection import open_trace
from tracing.recorder import MemoryRecorder
from tracing.schema import SCHEMA_VERSION

T0 = dt.datetime(2026, 11, 22, 0, 0, 0)


def run_row(run_id: str, **fields: Any) -> dict[str, Any]:
    """A complete ``runs`` row with defaults; ``fields`` override any column."""
    row: dict[str, Any] = dict(
        run_id=run_id,
        name=f"run {run_id}",
        created=T0,
        finished=T0 + dt.timedelta(seconds=10),
        heartbeat=T0 + dt.timedelta(seconds=10),
        status="complete",
        family="memnet",
        model="memnet-tiny",
        config=json.dumps({"slots": 8}),
        input="copy task",
        device="cpu",
        versions=json.dumps({"memscope": "0.1.0"}),
        schema_version=SCHEMA_VERSION,
        writer_pid=None,
        writer_host=None,
        cell_state_sampling=None,
    )
    row.update(fields)
    return row


def write_trace(path: Path, runs: list[tuple[dict[str, Any], dict[str, pa.Table]]]) -> Path:
    """Create a trace at ``path`` holding each ``(runs row, {table: Arrow table})`` pair."""
    con = open_trace(path, read_only=False, create=True)
    try:
        for row, tables in runs:
            columns = list(row)
            con.execute(
                f"INSERT INTO runs ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})",
                [row[c] for c in columns],
            )
            for name, table in tables.items():
                insert_logical(con, name, table)
    finally:
        con.close()
    return path


def recorded(run_id: str, script: Callable[[MemoryRecorder], None]) -> dict[str, pa.Table]:
    """Run ``script(recorder)`` on a fresh MemoryRecorder and return its Arrow tables."""
    rec = MemoryRecorder(run_id)
    script(rec)
    return rec.tables()


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes (to prove that a read left it unchanged)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


class TraceKit:
    """The helpers above, handed to tests through the ``kit`` fixture (test files import no conftest)."""

    T0 = T0
    run_row = staticmethod(run_row)
    write_trace = staticmethod(write_trace)
    recorded = staticmethod(recorded)
    file_digest = staticmethod(file_digest)


@pytest.fixture
def kit() -> type[TraceKit]:
    return TraceKit


@pytest.fixture
def trace_path(tmp_path: Path) -> Path:
    return tmp_path / "trace.duckdb"
