"""The pieces of one writer flush: slices of buffered rows, file stream ids, and the append worker.

A flush (:meth:`tracing.writer.DuckDBRecorder._flush`) takes the buffer as :class:`Slice` s of
about :data:`SLICE_ROWS` rows of one table, and inside ONE transaction builds each slice's Arrow
table on the flush thread while the :class:`AppendWorker` thread has DuckDB append the previous one
(DuckDB releases the GIL while it appends, with its own 2 threads): building the next slice hides
in the CPU that DuckDB leaves idle. A slice keeps its built table (with *local* stream ids) until
its transaction commits, so a failed flush is retried without building it again.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from tracing.columns import Chunk
from tracing.streams import StreamKeys

SLICE_ROWS = 1 << 20
"""Rows per slice (one DuckDB append): large enough for DuckDB to fill whole row groups in parallel,
small enough that building the next slice overlaps most of the appending."""


@dataclass
class Slice:
    """Rows of one logical ``table`` taken from the buffer: raw ``chunks`` until :attr:`data` is built."""

    table: str
    chunks: list[Chunk]
    rows: int
    data: pa.Table | None = None


def slices(taken: dict[str, list[Chunk]]) -> list[Slice]:
    """Cut each table's chunks, in order, into slices of at least ``SLICE_ROWS`` rows (the last may be smaller)."""
    out: list[Slice] = []
    for table, chunks in taken.items():
        start, rows = 0, 0
        for i, (n, _) in enumerate(chunks):
            rows += n
            if rows >= SLICE_ROWS or i == len(chunks) - 1:
                out.append(Slice(table, chunks[start : i + 1], rows))
                start, rows = i + 1, 0
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


class AppendWorker:
    """One daemon thread running submitted calls in order (a DuckDB connection is used by one thread
    at a time: the flush thread waits for the worker before it touches the connection again)."""

    def __init__(self, name: str) -> None:
        self._calls: queue.SimpleQueue[tuple[Callable[[], Any], Future] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, call: Callable[[], Any]) -> Future:
        future: Future = Future()
        if not self._thread.is_alive():  # closed (or interpreter shutting down): run here
            _settle(future, call)
        else:
            self._calls.put((call, future))
        return future

    def close(self) -> None:
        self._calls.put(None)

    def _run(self) -> None:
        while (item := self._calls.get()) is not None:
            _settle(item[1], item[0])


def _settle(future: Future, call: Callable[[], Any]) -> None:
    try:
        future.set_result(call())
    except BaseException as exc:  # noqa: BLE001 - handed to the waiting flush thread
        future.set_exception(exc)
