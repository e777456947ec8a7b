"""index_runs: pre-aggregated lifecycles and event counts answer exactly what the raw queries answer."""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracing.errors import TraceError, UnknownRunError
from tracing.liveness import this_host, utc_now
from tracing.parquet import export_runs, import_runs
from tracing.schema import OPS
from tracing.store import TraceStore, index_runs

EVENT = st.tuples(st.integers(0, 20), st.integers(0, 4), st.sampled_from(OPS), st.sampled_from(["slot", "knn"]), st.integers(0, 1))


def build(kit, path: Path, events) -> Path:
    def script(rec):
        for step, cell, op, memory, batch in events:
            rec.events(step=step, op=op, memory=memory, batch=batch, cell=cell, weight=float(cell), gate=0.5)
            rec.cell_states(step=step, memory=memory, batch=batch, cell=cell, usage=float(step))
    return kit.write_trace(path, [(kit.run_row("r"), kit.recorded("r", script))])


def answers(store: TraceStore) -> list:
    heatmaps = [store.heatmap("r", "write"), store.heatmap("r", "read", memory="knn", batch=1, max_cells=10),
                store.heatmap("r", "usage", memory="slot")]
    return [
        store.lifecycles("r"), store.lifecycles("r", memory="knn"),
        store.event_counts("r"), store.event_counts("r", batch=1), store.event_counts("r", start=3, stop=9),
        *[(h.frame, h.cell_bin, h.step_bin, h.n_cells, h.n_steps, h.sampled) for h in heatmaps],
    ]


def assert_same(before, after):
    if isinstance(before, pd.DataFrame):
        pd.testing.assert_frame_equal(before, after)
    else:
        pd.testing.assert_frame_equal(before[0], after[0])
        assert before[1:] == after[1:]


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(events=st.lists(EVENT, max_size=50))
def test_indexed_answers_equal_raw_answers(kit, events):
    with tempfile.TemporaryDirectory() as folder:
        store = TraceStore(build(kit, Path(folder) / "t.duckdb", events))
        raw = answers(store)
        assert index_runs(store.path) == ["r"]
        for before, after in zip(raw, answers(store)):
            assert_same(before, after)


def test_index_writes_only_rollup_tables_and_rebuilds(trace_path, kit):
    build(kit, trace_path, [(0, 1, "write", "slot", 0), (4, 1, "evict", "slot", 0), (2, 2, "write", "slot", 0)])
    con = duckdb.connect(str(trace_path), read_only=True)
    before = {t: con.execute(f"SELECT count(*) FROM {t}").fetchall() for t in ("runs", "memory_events")}
    con.close()
    calls = []
    index_runs(trace_path, progress=lambda done, total: calls.append((done, total)))
    index_runs(trace_path)  # again: rebuilt, not duplicated
    con = duckdb.connect(str(trace_path), read_only=True)
    assert {t: con.execute(f"SELECT count(*) FROM {t}").fetchall() for t in ("runs", "memory_events")} == before
    assert con.execute("SELECT count(*) FROM memscope_lifecycles").fetchall() == [(2,)]
    assert con.execute("SELECT run_id, n_events FROM memscope_rollups").fetchall() == [("r", 3)]
    con.close()
    assert calls == [(1, 1)]
    assert TraceStore(trace_path).info()["indexed_runs"] == 1
    lives = TraceStore(trace_path).lifecycles("r")
    assert lives[["cell", "born", "died", "cause"]].values.tolist() == [[1, 0, 4, "evict"], [2, 2, 4, "censored"]]


def test_running_runs_are_not_indexed(trace_path, kit):
    kit.write_trace(trace_path, [
        (kit.run_row("done"), {}),
        (kit.run_row("failed", status="crashed"), {}),
        (kit.run_row("live", status="running", writer_pid=os.getpid(), writer_host=this_host(),
                     heartbeat=utc_now(), finished=None), {}),
        (kit.run_row("stale", status="running", heartbeat=utc_now() - dt.timedelta(hours=2), finished=None), {}),
    ])
    assert TraceStore(trace_path).runs().set_index("run_id")["status"]["stale"] == "crashed"  # judged dead ...
    assert index_runs(trace_path) == ["done", "failed"]  # ... but only runs their writer closed are indexed
    for run_id in ("live", "stale"):
        with pytest.raises(TraceError, match="still marked running"):
            index_runs(trace_path, [run_id])
    with pytest.raises(UnknownRunError):
        index_runs(trace_path, ["nope"])


def test_export_skips_rollups_and_import_reads_raw(trace_path, kit, tmp_path):
    build(kit, trace_path, [(0, 1, "write", "slot", 0), (1, 1, "write", "slot", 0)])
    index_runs(trace_path)
    export_runs(trace_path, None, tmp_path / "ex")
    assert sorted(p.name for p in (tmp_path / "ex").iterdir() if p.is_dir()) == sorted(
        ["runs", "steps", "memory_events", "cell_states", "moments", "metrics"])
    import_runs(tmp_path / "ex", tmp_path / "copy.duckdb")
    pd.testing.assert_frame_equal(TraceStore(tmp_path / "copy.duckdb").lifecycles("r"), TraceStore(trace_path).lifecycles("r"))
