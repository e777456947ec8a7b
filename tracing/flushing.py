"""The pieces of one writer flush: slices of buffered rows and the file's stream ids.

A flush (:meth:`tracing.writer.DuckDBRecorder._flush`) takes the buffer as :class:`Slice` s of
exactly :data:`SLICE_ROWS` rows of one table (one DuckDB row group; the last slice of a table may be
smaller) and, inside ONE transaction, appends each table with ONE ``INSERT`` that reads a
``pyarrow.RecordBatchReader``: DuckDB pulls the slices one at a time, and the reader builds each
slice's Arrow table only when pulled, so one DuckDB thread builds slice k+1 while the other appends
slice k. Measured here (docs/benchmarks/ingest.md): one statement over row-group-sized batches
appends ~15 % faster than one statement per million rows, and batches that straddle row groups
cost DuckDB a merge each. Each slice is built into buffers that return to the writer's pool as soon
as DuckDB has appended it (:mod:`tracing.buffers`); a slice keeps its rows (the calls' columns)
until its transaction commits, so a failed flush builds it again.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from tracing.columns import Chunk, split_chunk
from tracing.streams import StreamKeys

SLICE_ROWS = 122_880
"""Rows per slice: DuckDB's row group size, so that every batch fills whole row groups."""


@dataclass
class Slice:
    """``rows`` rows of one logical ``table`` taken from the buffer, as the recorder calls' ``chunks``
    (kept until the flush commits; the writer builds the slice's Arrow table from them)."""

    table: str
    chunks: list[Chunk]
    rows: int


def slices(taken: dict[str, list[Chunk]], rows: int = SLICE_ROWS) -> list[Slice]:
    """Cut each table's chunks, in order, into slices of exactly ``rows`` rows (the last of a table may
    be smaller), splitting a chunk where a boundary falls inside it (:func:`~tracing.columns.split_chunk`)."""
    out: list[Slice] = []
    for table, chunks in taken.items():
        current: list[Chunk] = []
        filled = 0
        for chunk in chunks:
            while chunk[0]:
                room = rows - filled
                head, chunk = split_chunk(chunk, room) if chunk[0] > room else (chunk, (0, {}))
                current.append(head)
                filled += head[0]
                if filled == rows:
                    out.append(Slice(table, current, rows))
                    current, filled = [], 0
        if current:
            out.append(Slice(table, current, filled))
    return out


class StreamMap:
    """Local stream ids of a recorder -> stream ids of its trace file.

    :meth:`begin` starts a transaction's view (the next free file id); :meth:`to_file` maps a built
    table, allocating file ids for new local streams and returning their ``streams`` rows;
    :meth:`commit` keeps the new ids, and a failed transaction simply never commits them.
    """

    def __init__(self, run_id: str, keys: StreamKeys) -> None:
        self.run_id, self.keys = run_id, keys
        self._committed = np.zeros(0, np.int32)
        self._open: list[int] = []
        self._next = 0

    def begin(self, next_free: int) -> None:
        self._open = self._committed.tolist()
        self._next = next_free

    def to_file(self, data: pa.Table) -> tuple[pa.Table, list[tuple[int, str, str, int, int]]]:
        """``data`` with file stream ids, and the ``streams`` rows to register first."""
        new_rows = []
        while len(self._open) < len(self.keys):
            memory, layer, head = self.keys.keys[len(self._open)]
            new_rows.append((self._next, self.run_id, memory, layer, head))
            self._open.append(self._next)
            self._next += 1
        lookup = np.asarray(self._open, np.int32)
        if np.array_equal(lookup, np.arange(len(lookup), dtype=np.int32)):  # file ids = local ids: nothing to map
            return data, new_rows
        local = data.column("stream").to_numpy()
        return data.set_column(0, "stream", pa.array(lookup[local], pa.int32())), new_rows

    def commit(self) -> None:
        self._committed = np.asarray(self._open, np.int32)
