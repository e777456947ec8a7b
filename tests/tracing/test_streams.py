"""The lean per-stream rows a recorder builds: stream ids per row, range checks, back to the logical layout."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tracing.streams as streams
from tracing.recorder import BufferedRecorder, MemoryRecorder
from tracing.schema import OutOfRangeError, UnknownOpError

HEADS = st.integers(-3, 40)


@st.composite
def calls(draw):
    """Event calls whose layer and head are scalars, numpy rows or tensor rows, over a few memories."""
    out = []
    for _ in range(draw(st.integers(1, 6))):
        n = draw(st.integers(1, 5))
        memory = draw(st.sampled_from(["slot", "knn", "graph"]))
        columns = {}
        for name in ("layer", "head"):
            kind = draw(st.sampled_from(["scalar", "numpy", "torch"]))
            values = draw(st.lists(HEADS, min_size=n, max_size=n))
            columns[name] = {"scalar": values[0], "numpy": np.asarray(values), "torch": torch.tensor(values, dtype=torch.int16)}[kind]
            if kind == "scalar":
                values = [values[0]] * n
            columns[name + "_rows"] = values
        out.append((n, memory, columns))
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(calls())
def test_every_row_gets_the_stream_of_its_memory_layer_and_head(stream_calls):
    rec = BufferedRecorder("r")
    expected = []
    for n, memory, cols in stream_calls:
        rec.events(step=0, op="read", memory=memory, cell=np.arange(n), layer=cols["layer"], head=cols["head"])
        expected += [(memory, int(l), int(h)) for l, h in zip(cols["layer_rows"], cols["head_rows"])]
    lean = rec.build("memory_events", rec.take()["memory_events"])
    got = [rec.streams.keys[i] for i in lean.column("stream").to_pylist()]
    assert got == expected
    assert sorted(set(rec.streams.keys)) == sorted(set(expected))  # no stream that no row has


def test_wide_boxes_take_the_sorting_path(monkeypatch):
    monkeypatch.setattr(streams, "_DENSE_LIMIT", 4)
    rec = BufferedRecorder("r")
    rec.events(step=0, op="read", memory="slot", cell=np.arange(6), layer=np.array([0, 5, 5, 9, 0, 9]), head=np.array([7, 0, 7, 0, 7, 3]))
    lean = rec.build("memory_events", rec.take()["memory_events"])
    got = [rec.streams.keys[i][1:] for i in lean.column("stream").to_pylist()]
    assert got == [(0, 7), (5, 0), (5, 7), (9, 0), (0, 7), (9, 3)]


def test_a_head_first_seen_after_the_leading_rows_still_gets_its_stream(monkeypatch):
    monkeypatch.setattr(streams, "_PREFIX_ROWS", 4)  # codes not in the first 4 rows are searched in all
    rec = BufferedRecorder("r")
    rec.events(step=0, op="read", memory="slot", cell=np.arange(8), head=torch.tensor([0, 4, 0, 4, 0, 2, 4, 0], dtype=torch.int16))
    lean = rec.build("memory_events", rec.take()["memory_events"])
    got = [rec.streams.keys[i][2] for i in lean.column("stream").to_pylist()]
    assert got == [0, 4, 0, 4, 0, 2, 4, 0]
    assert sorted(key[2] for key in rec.streams.keys) == [0, 2, 4]  # heads 1 and 3 never occur: no stream


def test_local_ids_stay_stable_across_builds():
    rec = MemoryRecorder("r")
    rec.events(step=0, op="read", memory="slot", head=torch.tensor([2, 3]), cell=[0, 1])
    first = rec.tables()["memory_events"]
    rec.events(step=1, op="read", memory="slot", head=torch.tensor([3, 1, 2]), cell=[0, 1, 2])
    rec.events(step=1, op="write", memory="knn", head=3, cell=4)
    table = rec.tables()["memory_events"]
    assert table.slice(0, 2).equals(first)
    assert table.column("head").to_pylist() == [2, 3, 3, 1, 2, 3]
    assert table.column("memory").to_pylist() == ["slot"] * 5 + ["knn"]
    assert table.column("op").to_pylist() == ["read"] * 5 + ["write"]
    assert rec.streams.keys == [("slot", 0, 2), ("slot", 0, 3), ("slot", 0, 1), ("knn", 0, 3)]


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        (dict(step=2**31, cell=[1]), "step = 2,147,483,648 does not fit"),
        (dict(step=torch.tensor([0, -(2**31) - 1]), cell=[1, 2]), "step = -2,147,483,649 does not fit"),
        (dict(step=0, cell=torch.tensor([2**40])), "cell = 1,099,511,627,776 does not fit"),
        (dict(step=0, cell=np.array([1, 2**33])), "cell = 8,589,934,592 does not fit"),
        (dict(step=0, cell=[1], other_cell=[2**31]), "other_cell = 2,147,483,648 does not fit"),
        (dict(step=0, cell=[1], batch=[40_000]), "batch = 40,000 does not fit"),
        (dict(step=0, cell=[1, 2], head=torch.tensor([0, 32_768], dtype=torch.int32)), "head = 32,768 does not fit"),
        (dict(step=0, cell=[1], layer=-40_000), "layer = -40,000 does not fit"),
    ],
)
def test_values_out_of_range_are_refused_not_wrapped(columns, message):
    rec = MemoryRecorder("r")
    rec.events(op="read", memory="slot", **columns)
    with pytest.raises(OutOfRangeError, match=message):
        rec.tables()


def test_unknown_op_and_unnamed_memory_are_refused_at_the_call():
    rec = MemoryRecorder("r")
    with pytest.raises(UnknownOpError, match="unknown op 'teleport'; use one of write, update"):
        rec.events(step=0, op="teleport", memory="slot", cell=1)
    with pytest.raises(TypeError, match="memory must be a name"):
        rec.cell_states(step=0, memory=["slot"], cell=1)
    assert rec.pending_rows() == 0


def test_omitted_layer_head_and_batch_are_recorded_as_zero():
    """A call may leave out layer, head and batch (the chunk keeps only what was passed); its rows
    read 0 for each, in both tables, and an explicit value next to it keeps its own."""
    rec = MemoryRecorder("r")
    rec.events(step=0, op="read", memory="slot", cell=np.arange(3))
    rec.events(step=1, op="write", memory="slot", cell=np.arange(2), layer=2, head=torch.tensor([1, 3]), batch=np.array([4, 5]))
    rec.cell_states(step=0, memory="slot", cell=np.arange(2), age=np.ones(2, np.float32))
    tables = rec.tables()
    events = tables["memory_events"].to_pydict()
    assert events["layer"] == [0, 0, 0, 2, 2] and events["head"] == [0, 0, 0, 1, 3] and events["batch"] == [0, 0, 0, 4, 5]
    states = tables["cell_states"].to_pydict()
    assert states["layer"] == [0, 0] and states["head"] == [0, 0] and states["batch"] == [0, 0]


@pytest.mark.parametrize(
    "columns, rows",
    [
        (dict(cell=np.arange(4), weight=torch.ones(4)), 4),  # 1-D columns of one length: the one-pass count
        (dict(cell=np.arange(4), weight=np.ones(1)), 4),  # a length-1 column broadcasts
        (dict(cell=[1, 2, 3]), 3),  # a list
        (dict(cell=np.int64(7)), 1),  # a numpy scalar
        (dict(cell=5, weight=0.5), 1),  # scalars only
    ],
)
def test_a_call_counts_its_rows_in_every_form(columns, rows):
    rec = BufferedRecorder("r")
    rec.events(step=0, op="read", memory="slot", **columns)
    assert rec.pending_rows() == rows
