"""tracing.lifecycles on hand-made marks: lives listed as SQL's ORDER BY lists them, marks in any
order, both sort paths."""

from __future__ import annotations

import math

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tracing.lifecycles import _sorted_marks, lifecycles_table
from tracing.schema import DEATH_OPS, STREAM_SCHEMAS, op_code

MARK_SCHEMA = pa.schema([STREAM_SCHEMAS["stream_events"].field(name) for name in ("batch", "stream", "cell", "step", "op", "weight", "gate")])
"""lifecycle_marks.sql's columns but ``seq``."""
STREAMS = [(5, "knn", 0, 0), (2, "slot", 0, 1), (9, "slot", 1, 0)]
"""(stream, memory, layer, head) sorted by (memory, layer, head), ids out of order."""

MARK = st.tuples(
    st.integers(0, 1),  # batch
    st.sampled_from([5, 2, 9]),  # stream
    st.integers(0, 1),  # cell
    st.integers(0, 1),  # step: few, so that many writes tie on (cell, born)
    st.sampled_from([op_code(op) for op in ("write", "write", *DEATH_OPS)]),
    st.sampled_from([1.0, math.nan, None]),  # weight: a number, NaN and NULL
    st.sampled_from([0.5, math.nan, None]),  # gate
)
LIFE_ORDER = "batch, memory, layer, head, cell, born, died, cause, write_weight, write_gate"


def assert_same_lives(a: pa.Table, b: pa.Table) -> None:
    """Equal values (NaN equal to NaN) and NULLs in the same places."""
    pd.testing.assert_frame_equal(a.to_pandas(), b.to_pandas())
    assert all(x.is_null().equals(y.is_null()) for x, y in zip(a.columns, b.columns))


@settings(max_examples=60, deadline=None)
@given(marks=st.lists(MARK, max_size=60))
@example(marks=[(0, 5, 0, 0, 0, None, 0.5), (0, 5, 0, 0, 0, math.nan, None), (0, 5, 0, 0, 0, 1.0, 0.5)])  # NaN before NULL
def test_lives_are_listed_as_sql_orders_them(marks):
    """One life per write, in the order DuckDB's ORDER BY gives (NaN after numbers, NULL last),
    whatever order the marks come in (``seq`` is their recording order)."""
    table = pa.Table.from_pylist([dict(zip(MARK_SCHEMA.names, mark)) for mark in marks], schema=MARK_SCHEMA)
    table = table.append_column("seq", pa.array(np.arange(len(marks))))
    lives = lifecycles_table(table, STREAMS, last_step=1)
    shuffled = lifecycles_table(table.take(np.random.default_rng(0).permutation(len(marks))), STREAMS, last_step=1)
    assert_same_lives(shuffled, lives)
    assert lives.num_rows == sum(mark[4] == op_code("write") for mark in marks)
    numbered = lives.append_column("i", pa.array(np.arange(lives.num_rows)))
    con = duckdb.connect()
    con.register("numbered", numbered)
    listed = con.execute(f"SELECT i FROM numbered ORDER BY {LIFE_ORDER}, i").fetchnumpy()["i"]
    assert listed.tolist() == list(range(lives.num_rows))


@given(marks=st.lists(st.tuples(st.integers(-3, 3), st.integers(0, 3), st.integers(0, 2), st.booleans()), max_size=30),
       shuffled=st.booleans())
def test_keys_too_wide_to_pack_sort_the_same(marks, shuffled):
    """Keys whose ranges overflow one int64 (the np.lexsort path) sort like narrow ones (packed), as
    np.lexsort does, and read back the same cells and steps; seq in order or not."""
    batch, cell, step, is_write = (np.array([mark[i] for mark in marks], np.int64) for i in range(4))
    seq = np.arange(len(marks)) * 7
    if shuffled:
        seq = np.random.default_rng(0).permutation(seq)
    narrow = _sorted_marks([batch, cell], step, is_write.astype(bool), seq)
    wide = _sorted_marks([batch * 2**40, cell * 2**40], step, is_write.astype(bool), seq)  # 43 + 42 bits
    order = np.lexsort((seq, is_write, step, cell, batch))
    cells = list(zip(batch[order], cell[order]))
    assert narrow[0].tolist() == wide[0].tolist() == order.tolist()
    assert narrow[1].tolist() == wide[1].tolist() == [a == b for a, b in zip(cells, cells[1:])] + [False][: len(marks)]
    assert narrow[2].tolist() == wide[2].tolist() == step[order].tolist()
