"""DuckDBRecorder: every table round-trips, the runs row, interval and early flushes, context manager."""

from __future__ import annotations

import json
import os
import socket
import sys
import time

import duckdb
import numpy as np
import pyarrow as pa
import pytest
import torch

from tracing.connection import open_trace
from tracing.recorder import MemoryRecorder
from tracing.schema import ARROW_SCHEMAS, SCHEMA_VERSION
from tracing.writer import DuckDBRecorder

HOSTILE_NAME = "it's \"quoted\" x'); DROP TABLE runs;--"


def record_everything(rec) -> None:
    """One call (or more) of every recorder method, with tensors (fp32, bf16, int), lists, numpy and NULLs."""
    rec.steps(
        step=0,
        batch=torch.tensor([0, 1]),
        token_id=torch.tensor([101, 102]),
        token_text=["it's", 'say "hi"'],
        surprisal=np.array([1.5, 2.25], np.float32),
        entropy=torch.tensor([0.5, 1.25], dtype=torch.bfloat16),
        topk_ids=torch.tensor([[1, 2, 3], [4, 5, 6]]),
        topk_probs=torch.tensor([[0.5, 0.25, 0.125], [0.75, 0.125, 0.0625]], dtype=torch.bfloat16),
    )
    rec.steps(step=1, token_id=7, token_text=None, kl=0.375, topk_ids=[[9, 8]], topk_probs=[[0.5, 0.5]])
    rec.events(
        step=3,
        op="read",
        memory="slot",
        layer=1,
        head=torch.tensor([0, 0, 1, 1]),
        batch=torch.tensor([0, 1, 0, 1], dtype=torch.int32),
        cell=torch.tensor([5, 6, 7, 8]),
        weight=torch.tensor([0.25, 0.5, 0.75, 1.0], dtype=torch.bfloat16),
    )
    rec.events(step=4, op="merge", memory="moment", cell=[3], other_cell=[1], weight=0.125, gate=0.5)
    rec.events(step=5, op="write", memory="fast_weight", layer=2, cell=np.arange(3), gate=torch.tensor([0.1, 0.2, 0.3]))
    grad = torch.tensor([0.5, 0.25], requires_grad=True)
    rec.events(step=6, op="read", memory="slot", cell=torch.arange(2), weight=grad * 2)  # part of an autograd graph
    rec.cell_states(step=3, memory="slot", cell=torch.arange(4), age=torch.tensor([0.0, 1.0, 2.0, 3.0]), usage=[0.5] * 4)
    rec.moments(
        moment_id=torch.tensor([0, 1]),
        step=torch.tensor([2, 9]),
        memory="moment",
        trigger="entropy_spike",
        entropy=torch.tensor([3.0, 4.0]),
        topk_ids=torch.tensor([[1, 2], [3, 4]]),
        topk_probs=torch.tensor([[0.75, 0.25], [0.5, 0.5]]),
        context_hash=["abc", "def"],
        context_text=["x'); DROP TABLE moments;--", "plain"],
        embedding=torch.tensor([[0.5, -0.5, 1.0], [2.0, 0.0, -1.0]]),
    )
    rec.moments(moment_id=2, step=10, memory="moment", trigger="user", kl=0.25)
    rec.metric("loss", 2.5, step=1, series="memnet")
    rec.metric("accuracy", 0.75, x=1024.0)


def read_table(path, table: str, run_id: str) -> pa.Table:
    con = duckdb.connect(str(path), read_only=True)
    try:
        # memory_events and cell_states are views that list rows in recording order
        return con.sql(f"SELECT * FROM {table} WHERE run_id = ?", params=[run_id]).to_arrow_table()
    finally:
        con.close()


def test_every_table_round_trips(trace_path):
    with DuckDBRecorder(trace_path, name=HOSTILE_NAME, family="memnet", flush_interval=0.05) as rec:
        record_everything(rec)
        time.sleep(0.2)  # let a background flush happen mid-run; finish() writes the rest
        record_everything(rec)
    expected = MemoryRecorder(rec.run_id)
    record_everything(expected)
    record_everything(expected)
    expected_tables = expected.tables()
    assert set(expected_tables) == set(ARROW_SCHEMAS)
    for table, want in expected_tables.items():
        got = read_table(trace_path, table, rec.run_id)
        assert got.num_rows == want.num_rows, table
        assert got.to_pylist() == want.cast(got.schema).to_pylist(), table

    steps = read_table(trace_path, "steps", rec.run_id).to_pylist()
    assert [s["entropy"] for s in steps[:2]] == [0.5, 1.25]  # bf16 values, exactly
    assert steps[1]["topk_probs"] == [0.75, 0.125, 0.0625]
    assert steps[2]["token_text"] is None and steps[2]["entropy"] is None and steps[2]["kl"] == 0.375
    assert steps[0]["token_text"] == "it's" and steps[1]["token_text"] == 'say "hi"'
    events = read_table(trace_path, "memory_events", rec.run_id).to_pylist()
    assert [e["weight"] for e in events[:4]] == [0.25, 0.5, 0.75, 1.0]
    assert events[4]["op"] == "merge" and events[4]["other_cell"] == 1 and events[0]["other_cell"] is None
    assert events[5]["weight"] is None and events[5]["layer"] == 2
    assert [e["weight"] for e in events[8:10]] == [1.0, 0.5]
    moments = read_table(trace_path, "moments", rec.run_id).to_pylist()
    assert moments[0]["embedding"] == [0.5, -0.5, 1.0] and moments[2]["embedding"] is None
    assert moments[0]["context_text"] == "x'); DROP TABLE moments;--"


def test_runs_row_holds_the_run(trace_path):
    config = {"slots": 8, "lr": 0.001, "nested": {"k": [1, 2]}}
    with DuckDBRecorder(
        trace_path, name=HOSTILE_NAME, family="memnet", model="ckpt/it's", config=config,
        input="prompt 'quoted'", device="cpu",
    ) as rec:
        rec.metric("loss", 1.0)
    con = duckdb.connect(str(trace_path), read_only=True)
    row = con.execute("SELECT * FROM runs WHERE run_id = ?", [rec.run_id]).fetchone()
    columns = [d[0] for d in con.description]
    meta = dict(con.execute("SELECT key, value FROM memscope_meta").fetchall())
    con.close()
    run = dict(zip(columns, row))
    assert run["name"] == HOSTILE_NAME and run["model"] == "ckpt/it's" and run["input"] == "prompt 'quoted'"
    assert run["status"] == "complete" and run["family"] == "memnet" and run["device"] == "cpu"
    assert json.loads(run["config"]) == config
    versions = json.loads(run["versions"])
    assert versions["torch"] == torch.__version__ and versions["duckdb"] == duckdb.__version__
    assert {"python", "transformers"} <= set(versions)
    assert run["writer_pid"] == os.getpid() and run["writer_host"] == socket.gethostname()
    assert run["created"] <= run["heartbeat"] == run["finished"]
    assert run["schema_version"] == SCHEMA_VERSION
    assert meta["schema_version"] == str(SCHEMA_VERSION) and meta["format"] == "memscope-trace"


def test_runs_accumulate_in_one_file(trace_path):
    ids = []
    for name in ("first", "second"):
        with DuckDBRecorder(trace_path, name=name, family="cls") as rec:
            rec.events(step=0, op="write", memory="fast_weight", cell=[0, 1])
        ids.append(rec.run_id)
    con = duckdb.connect(str(trace_path), read_only=True)
    rows = con.execute("SELECT run_id, count(*) FROM memory_events GROUP BY run_id ORDER BY run_id").fetchall()
    con.close()
    assert rows == sorted((run_id, 2) for run_id in ids)


def wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


def count_rows(path, table: str = "memory_events") -> int:
    con = open_trace(path, read_only=True)  # waits out the writer's flush
    try:
        return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    finally:
        con.close()


def test_flushes_on_interval_before_finish(trace_path):
    rec = DuckDBRecorder(trace_path, family="memnet", flush_interval=0.1)
    rec.events(step=0, op="read", memory="slot", cell=np.arange(500))
    wait_for(lambda: rec.flushed_rows == 500)
    assert count_rows(trace_path) == 500
    con = open_trace(trace_path, read_only=True)
    assert con.execute("SELECT status FROM runs").fetchone()[0] == "running"
    con.close()
    rec.finish()


def test_flushes_early_past_the_row_limit(trace_path):
    rec = DuckDBRecorder(trace_path, family="memnet", flush_interval=60.0, max_buffered_rows=1000)
    for step in range(3):
        rec.events(step=step, op="read", memory="slot", cell=np.arange(400))
    wait_for(lambda: rec.flushed_rows >= 1000, timeout=5.0)  # the interval (60 s, 10 s heartbeat) is far off
    assert count_rows(trace_path) >= 1000
    rec.finish()
    assert count_rows(trace_path) == 1200


def test_engine_waits_when_the_buffer_is_full(trace_path):
    slow_flush = lambda rows: time.sleep(0.3)  # noqa: E731 - the buffer fills while a flush takes long
    rec = DuckDBRecorder(trace_path, family="memnet", flush_interval=60.0, max_buffered_rows=100, on_flush=slow_flush)
    buffered = []
    for step in range(8):
        rec.events(step=step, op="read", memory="slot", cell=np.arange(60))
        buffered.append(rec.pending_rows())
    rec.finish()
    assert max(buffered) < 2 * 100  # without the wait: up to 480 rows pile up during the slow flush
    assert count_rows(trace_path) == 480


def test_exception_marks_run_crashed_and_propagates(trace_path):
    with pytest.raises(RuntimeError, match="boom"):
        with DuckDBRecorder(trace_path, family="memnet") as rec:
            rec.events(step=0, op="write", memory="slot", cell=[1, 2, 3])
            raise RuntimeError("boom")
    con = duckdb.connect(str(trace_path), read_only=True)
    status, finished = con.execute("SELECT status, finished FROM runs WHERE run_id = ?", [rec.run_id]).fetchone()
    con.close()
    assert status == "crashed" and finished is not None
    assert count_rows(trace_path) == 3


def test_calls_after_finish_are_refused(trace_path):
    from tracing.writer import RecorderFinishedError

    with DuckDBRecorder(trace_path, family="memnet") as rec:
        rec.metric("loss", 1.0)
    with pytest.raises(RecorderFinishedError, match="finished"):
        rec.metric("loss", 0.5)
    rec.finish()  # finishing twice is a no-op
    assert count_rows(trace_path, "metrics") == 1


def test_two_recorders_share_a_file_in_one_process(trace_path):
    import threading

    recorders = [DuckDBRecorder(trace_path, name=f"r{i}", family="memnet", flush_interval=0.02) for i in range(2)]

    def record(rec):
        for step in range(50):
            rec.events(step=step, op="read", memory="slot", cell=np.arange(10))
            time.sleep(0.002)
        rec.finish()

    threads = [threading.Thread(target=record, args=(rec,)) for rec in recorders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    con = duckdb.connect(str(trace_path), read_only=True)
    counts = dict(con.execute("SELECT run_id, count(*) FROM memory_events GROUP BY run_id").fetchall())
    statuses = {s for (s,) in con.execute("SELECT status FROM runs").fetchall()}
    con.close()
    assert counts == {rec.run_id: 500 for rec in recorders}
    assert statuses == {"complete"}


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_tensors_round_trip_like_cpu_tensors(tmp_path):
    def script(rec, device):
        rec.events(step=0, op="read", memory="slot", head=torch.tensor([0, 1], device=device),
                   cell=torch.tensor([3, 4], device=device), weight=torch.tensor([0.5, 0.25], device=device, dtype=torch.bfloat16))
        rec.steps(step=0, topk_ids=torch.tensor([[1, 2]], device=device), topk_probs=torch.tensor([[0.75, 0.25]], device=device))

    tables = {}
    for device in ("cpu", "cuda"):
        with DuckDBRecorder(tmp_path / f"{device}.duckdb", family="memnet") as rec:
            script(rec, device)
        tables[device] = {t: read_table(tmp_path / f"{device}.duckdb", t, rec.run_id).drop_columns(["run_id"]).to_pylist()
                          for t in ("memory_events", "steps")}
    assert tables["cuda"] == tables["cpu"]


def test_heartbeat_is_refreshed_even_with_a_long_flush_interval(trace_path, monkeypatch):
    import tracing.writer as writer

    monkeypatch.setattr(writer, "HEARTBEAT_PERIOD_S", 0.05)  # stands for the 10 s cap, to keep the test short
    rec = DuckDBRecorder(trace_path, family="memnet", flush_interval=3600.0)

    def beats():
        con = open_trace(trace_path, read_only=True)
        try:
            return con.execute("SELECT created, heartbeat FROM runs").fetchone()
        finally:
            con.close()

    wait_for(lambda: (lambda created, beat: beat > created)(*beats()))
    rec.finish()


def test_metric_takes_a_column_of_values():
    """``metric`` takes scalars or per-row arrays/tensors (one call for a whole curve)."""
    rec = MemoryRecorder("m")
    rec.metric("loss", 0.5, step=0)
    rec.metric("drift", torch.tensor([0.1, 0.2, 0.3]), step=torch.arange(3) + 10, x=np.array([1.0, 2.0, 3.0]), series="L0")
    m = rec.tables()["metrics"].to_pandas()
    assert m.name.tolist() == ["loss", "drift", "drift", "drift"]
    assert m.step.tolist() == [0, 10, 11, 12]
    assert np.allclose(m.value, [0.5, 0.1, 0.2, 0.3])
    assert m.x.tolist()[1:] == [1.0, 2.0, 3.0] and m.series.tolist()[1:] == ["L0"] * 3


def test_software_versions_prefer_the_imported_package_s_own_version(monkeypatch):
    """A CUDA build's local label (torch 2.11.0+cu130) lives in __version__, not always in its metadata."""
    import types

    from tracing.writer import software_versions

    monkeypatch.setitem(sys.modules, "transformers", types.SimpleNamespace(__version__="9.9.9+local"))
    versions = software_versions()
    assert versions["transformers"] == "9.9.9+local"
    assert versions["torch"] == torch.__version__
    assert versions["duckdb"] == duckdb.__version__
