"""Slicing a flush: chunks split at slice boundaries build exactly the rows of the unsliced chunks."""

from __future__ import annotations

import pyarrow as pa
import pytest

from tests.tracing.test_writer import record_everything
from tracing.flushing import SLICE_ROWS, slices
from tracing.recorder import BufferedRecorder
from tracing.schema import STREAM_TABLES
from tracing.streams import logical_table


def recorded() -> BufferedRecorder:
    rec = BufferedRecorder("r")
    record_everything(rec)  # tensors (fp32, bf16, int), lists, numpy, NULLs, (n, k) list columns, broadcasts
    record_everything(rec)
    return rec


@pytest.mark.parametrize("rows", [1, 2, 3, 5, 7, 1000])
def test_slices_cut_at_exact_row_counts_and_rebuild_the_same_rows(rows):
    whole_rec, sliced_rec = recorded(), recorded()
    taken = whole_rec.take()
    expected = {table: logical(whole_rec, table, whole_rec.build(table, chunks)) for table, chunks in taken.items()}
    pieces = slices(sliced_rec.take(), rows)
    for table, table_rows in expected.items():
        mine = [piece for piece in pieces if piece.table == table]
        assert [piece.rows for piece in mine[:-1]] == [rows] * (len(mine) - 1)
        assert 0 < mine[-1].rows <= rows and sum(piece.rows for piece in mine) == table_rows.num_rows
        built = pa.concat_tables([logical(sliced_rec, table, sliced_rec.build(table, piece.chunks)) for piece in mine])
        assert built.equals(table_rows), table


def logical(rec: BufferedRecorder, table: str, built: pa.Table) -> pa.Table:
    """Local stream ids are numbered in build order: compare (memory, layer, head) instead."""
    return logical_table(table, built, rec.streams, "r") if table in STREAM_TABLES else built


def test_slices_fill_whole_duckdb_row_groups(trace_path):
    """SLICE_ROWS is DuckDB's row group size: a flush of 2 slices and 5 rows stores 3 row groups."""
    import duckdb
    import numpy as np

    from tracing.writer import DuckDBRecorder

    with DuckDBRecorder(trace_path, family="memnet", flush_interval=30.0, index_on_finish=False) as rec:
        for _ in range(3):  # calls that straddle the slice boundaries
            rec.events(step=0, op="read", memory="slot", cell=np.arange((2 * SLICE_ROWS + 5) // 3 + 1))
    con = duckdb.connect(str(trace_path), read_only=True)
    sizes = con.execute(
        "SELECT max(count) FROM pragma_storage_info('stream_events') GROUP BY row_group_id ORDER BY row_group_id"
    ).fetchall()
    con.close()
    total = 3 * ((2 * SLICE_ROWS + 5) // 3 + 1)
    assert [n for (n,) in sizes] == [SLICE_ROWS, SLICE_ROWS, total - 2 * SLICE_ROWS]
