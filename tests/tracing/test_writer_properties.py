"""Property tests: random streams of recorder calls (scalars, lists, numpy, torch fp32/bf16/int, NULLs)
come out of the buffer's drain, and out of a DuckDB trace, exactly as a row-by-row reference says."""

from __future__ import annotations

import tempfile
from pathlib import Path

import duckdb
import numpy as np
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracing.recorder import BufferedRecorder
from tracing.writer import DuckDBRecorder

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
QUARTERS = st.integers(-16, 16).map(lambda q: q / 4)  # exact in bf16, fp16, fp32 and fp64
SMALL_INTS = st.integers(-100, 100)
TEXTS = st.sampled_from(["", "it's", 'say "hi"', "x'); DROP TABLE steps;--", "né ∑"])


@st.composite
def numeric_column(draw, n: int, values, kind_choices=("none", "scalar", "list", "numpy", "torch", "torch1")):
    """(what the engine passes, the n values the reference expects) for one numeric column of one call."""
    kind = draw(st.sampled_from(kind_choices))
    if kind == "none":
        return None, [None] * n
    if kind == "scalar":
        v = draw(values)
        return v, [v] * n
    vs = draw(st.lists(values, min_size=n, max_size=n))
    if kind == "list":
        return vs, vs
    if kind == "numpy":
        return np.asarray(vs), vs
    if kind == "torch1":  # a one-element tensor broadcast over the call's rows
        return torch.tensor([vs[0]]), [vs[0]] * n
    dtype = draw(st.sampled_from([torch.float32, torch.bfloat16, torch.float16, torch.float64]) if isinstance(vs[0], float)
                 else st.sampled_from([torch.int16, torch.int32, torch.int64]))
    return torch.tensor(vs, dtype=dtype), vs


@st.composite
def event_call(draw):
    n = draw(st.integers(1, 6))
    cols, ref = {}, {}
    for name, values, kinds in (
        ("step", SMALL_INTS, ("scalar", "numpy", "torch")),
        ("cell", SMALL_INTS, ("list", "numpy", "torch")),
        ("head", SMALL_INTS, ("scalar", "torch", "torch1")),
        ("weight", QUARTERS, ("none", "scalar", "list", "numpy", "torch", "torch1")),
        ("gate", QUARTERS, ("none", "scalar", "torch")),
        ("other_cell", SMALL_INTS, ("none", "numpy", "torch")),
    ):
        cols[name], ref[name] = draw(numeric_column(n, values, kinds))
    cols["op"] = draw(st.sampled_from(["read", "write", "merge"]))
    cols["memory"] = draw(st.sampled_from(["slot", "moment", "fast_weight"]))
    rows = [
        dict(step=ref["step"][i], batch=0, memory=cols["memory"], layer=0, head=ref["head"][i], cell=ref["cell"][i],
             op=cols["op"], weight=ref["weight"][i], gate=ref["gate"][i], other_cell=ref["other_cell"][i])
        for i in range(n)
    ]
    return cols, rows


@st.composite
def step_call(draw):
    n = draw(st.integers(1, 4))
    k = draw(st.integers(1, 4))
    step, step_ref = draw(numeric_column(n, SMALL_INTS, ("scalar", "torch")))
    entropy, entropy_ref = draw(numeric_column(n, QUARTERS))
    text_kind = draw(st.sampled_from(["none", "scalar", "list"]))
    texts = draw(st.lists(TEXTS, min_size=n, max_size=n))
    token_text = {"none": None, "scalar": texts[0], "list": texts}[text_kind]
    text_ref = {"none": [None] * n, "scalar": [texts[0]] * n, "list": texts}[text_kind]
    ids = draw(st.lists(st.lists(SMALL_INTS, min_size=k, max_size=k), min_size=n, max_size=n))
    probs = draw(st.lists(st.lists(QUARTERS, min_size=k, max_size=k), min_size=n, max_size=n))
    ids_kind = draw(st.sampled_from(["none", "list", "torch"]))
    topk_ids = {"none": None, "list": ids, "torch": torch.tensor(ids)}[ids_kind]
    topk_probs = torch.tensor(probs, dtype=draw(st.sampled_from([torch.float32, torch.bfloat16])))
    cols = dict(step=step, entropy=entropy, token_text=token_text, topk_ids=topk_ids, topk_probs=topk_probs)
    rows = [
        dict(step=step_ref[i], batch=0, token_id=None, token_text=text_ref[i], surprisal=None, entropy=entropy_ref[i],
             kl=None, topk_ids=None if ids_kind == "none" else ids[i], topk_probs=probs[i])
        for i in range(n)
    ]
    return cols, rows


STREAM = st.tuples(st.lists(event_call(), min_size=1, max_size=8), st.lists(step_call(), min_size=1, max_size=5))


def record(rec, events, steps) -> dict[str, list[dict]]:
    """Make every call on ``rec``; return the rows a row-by-row reference expects, per table."""
    expected: dict[str, list[dict]] = {"memory_events": [], "steps": []}
    for cols, rows in events:
        rec.events(**cols)
        expected["memory_events"] += rows
    for cols, rows in steps:
        rec.steps(**cols)
        expected["steps"] += rows
    return expected


def without_run_id(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "run_id"} for row in rows]


@SETTINGS
@given(STREAM)
def test_drain_matches_a_row_by_row_reference(stream):
    rec = BufferedRecorder("run")
    expected = record(rec, *stream)
    tables = rec.drain()
    for table, rows in expected.items():
        got = tables[table].to_pylist()
        assert {row["run_id"] for row in got} == {"run"}
        assert without_run_id(got) == rows, table


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(STREAM)
def test_duckdb_trace_matches_a_row_by_row_reference(stream):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "t.duckdb"
        with DuckDBRecorder(path, family="memnet", flush_interval=30.0) as rec:
            expected = record(rec, *stream)
        con = duckdb.connect(str(path), read_only=True)
        try:
            for table, rows in expected.items():
                got = con.sql(f"SELECT * FROM {table}").to_arrow_table().to_pylist()  # views: in recording order
                assert {row["run_id"] for row in got} == {rec.run_id}
                assert without_run_id(got) == rows, table
        finally:
            con.close()
