"""The recorder interface the engine calls, and the buffering every real recorder shares.

The engine never talks to DuckDB. It calls five columnar methods on a recorder::

    rec.steps(step=t, token_id=ids, entropy=h, topk_ids=top_i, topk_probs=top_p)
    rec.events(step=t, op="read", memory="slot", head=heads, cell=idx, weight=w)
    rec.cell_states(step=t, memory="slot", cell=cells, age=age, usage=usage)
    rec.moments(moment_id=m, step=t, memory="moment", trigger="entropy_spike", ...)
    rec.metric("accuracy", 0.97, x=1024, series="memnet")

Each argument is a Python scalar (broadcast to every row), a sequence, a numpy array, or a
torch tensor on any device (shape ``(n,)``; list columns ``topk_ids``, ``topk_probs`` and
``embedding`` take ``(n, k)``). Tensors are kept as they are until a flush: on a GPU nothing is
copied to the host per step; a flush concatenates each column on its device and copies once.
**A tensor handed to a recorder must not be modified in place afterwards** (pass a clone of a
buffer the engine keeps mutating).

The engine guards expensive preparation with ``if rec.enabled:``; :class:`NullRecorder` is
disabled and every method returns at once.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pyarrow as pa

from tracing.columns import LIST_COLUMNS, Chunk, chunks_to_table
from tracing.buffers import SliceBuffers
from tracing.schema import ARROW_SCHEMAS, STREAM_TABLES, op_code
from tracing.streams import StreamKeys, lean_table, logical_table

_LIST_COLUMNS = LIST_COLUMNS

_PLAIN_SCALARS = frozenset({str, int, float, bool, bytes})

_COLUMN_NAMES: dict[str, frozenset[str]] = {table: frozenset(schema.names) for table, schema in ARROW_SCHEMAS.items()}



@runtime_checkable
class Recorder(Protocol):
    """What the engine may call. See the module docstring for the column conventions."""

    enabled: bool
    run_id: str | None

    def steps(self, *, step: Any, batch: Any = 0, **columns: Any) -> None: ...

    def events(self, *, step: Any, op: str, memory: str, cell: Any, **columns: Any) -> None: ...

    def cell_states(self, *, step: Any, memory: str, cell: Any, **columns: Any) -> None: ...

    def moments(self, *, moment_id: Any, step: Any, memory: str, **columns: Any) -> None: ...

    def metric(self, name: str, value: Any, **columns: Any) -> None: ...

    def finish(self, status: str = "complete") -> None: ...


class NullRecorder:
    """A recorder that records nothing and costs one attribute read per guarded call."""

    enabled = False
    run_id = None

    def steps(self, **_: Any) -> None:
        return None

    def events(self, **_: Any) -> None:
        return None

    def cell_states(self, **_: Any) -> None:
        return None

    def moments(self, **_: Any) -> None:
        return None

    def metric(self, *_: Any, **__: Any) -> None:
        return None

    def finish(self, status: str = "complete") -> None:
        return None


NULL_RECORDER = NullRecorder()


class BufferedRecorder:
    """Collects column chunks per table; :meth:`drain` turns them into Arrow tables.

    Subclasses decide where drained tables go (memory, DuckDB). Thread-safe: the engine thread
    appends while a flush thread drains (one drainer at a time). ``op`` must be in
    :data:`~tracing.schema.OPS` and ``memory`` a name: both are checked at the call
    (``UnknownOpError``, ``TypeError``); ``streams`` numbers the ``(memory, layer, head)`` seen.
    """

    enabled = True

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self._lock = threading.Lock()
        self._chunks: dict[str, list[Chunk]] = defaultdict(list)
        self._pending = 0  # rows in self._chunks, kept so that pending_rows() is O(1)
        self.streams = StreamKeys()

    # -- engine-facing -------------------------------------------------------------------
    def steps(self, *, step: Any, batch: Any = 0, **columns: Any) -> None:
        self._append("steps", dict(step=step, batch=batch, **columns))

    def events(self, *, step: Any, op: str, memory: str, cell: Any, **columns: Any) -> None:
        # the call's own keyword dict holds the chunk (no copy); omitted layer/head/batch read as 0
        # when the chunk is built (tracing.streams.KEY_DEFAULTS)
        columns["step"], columns["op"], columns["memory"], columns["cell"] = step, op_code(op), _name(memory), cell
        self._append("memory_events", columns)

    def cell_states(self, *, step: Any, memory: str, cell: Any, **columns: Any) -> None:
        columns["step"], columns["memory"], columns["cell"] = step, _name(memory), cell
        self._append("cell_states", columns)

    def moments(self, *, moment_id: Any, step: Any, memory: str, **columns: Any) -> None:
        columns.setdefault("layer", 0)
        columns.setdefault("head", 0)
        columns.setdefault("batch", 0)
        self._append("moments", dict(moment_id=moment_id, step=step, memory=memory, **columns))

    def metric(self, name: str, value: Any, **columns: Any) -> None:
        if isinstance(value, (int, float, np.generic)):
            value = float(value)
        self._append("metrics", dict(name=name, value=value, **columns))

    def finish(self, status: str = "complete") -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    # -- buffering -----------------------------------------------------------------------
    def _append(self, table: str, columns: dict[str, Any]) -> None:
        if not _COLUMN_NAMES[table].issuperset(columns):
            unknown = set(columns) - _COLUMN_NAMES[table]
            raise TypeError(f"{table}: unknown column(s) {sorted(unknown)}")
        n = _row_count(columns)
        if n == 0:
            return
        with self._lock:
            self._chunks[table].append((n, columns))
            self._pending += n

    def pending_rows(self) -> int:
        """Rows buffered and not yet drained (all tables)."""
        return self._pending

    def take(self) -> dict[str, list[Chunk]]:
        """Take every buffered chunk, per non-empty table (the caller builds them: :meth:`build`)."""
        with self._lock:
            taken, self._chunks = self._chunks, defaultdict(list)
            self._pending = 0
        return {table: chunks for table, chunks in taken.items() if chunks}

    def build(self, table: str, chunks: list[Chunk], buffers: SliceBuffers | None = None) -> pa.Table:
        """Chunks of ``table`` as the writer appends them: the lean per-stream layout (local stream
        ids, :mod:`tracing.streams`) for ``memory_events`` and ``cell_states``, written into
        ``buffers`` when given (:mod:`tracing.fills`; fresh arrays otherwise), the logical layout
        without ``run_id`` for the other tables."""
        if table in STREAM_TABLES:
            return lean_table(table, chunks, self.streams, buffers)
        return chunks_to_table(table, chunks, None)

    def drain(self) -> dict[str, pa.Table]:
        """Take every buffered chunk and return one Arrow table per non-empty table, in the logical
        layout of :data:`~tracing.schema.ARROW_SCHEMAS` (``run_id`` included, ``op`` as text)."""
        drained = {}
        for table, chunks in self.take().items():
            if table in STREAM_TABLES:
                drained[table] = logical_table(table, self.build(table, chunks), self.streams, self.run_id)
            else:
                drained[table] = chunks_to_table(table, chunks, self.run_id)
        return drained


def _name(memory: Any) -> str:
    if type(memory) is not str:
        raise TypeError(f"memory must be a name (str), got {type(memory).__name__}")
    return memory


def _row_count(columns: dict[str, Any]) -> int:
    """Rows in one call: the length of the array-like columns (1 when all are scalars).

    Raises ``ValueError`` at the call when lengths disagree (a column of length 1 is broadcast,
    except list columns, whose ``(n, k)`` must match; a 1-D list column is one row). The usual call
    (scalars and 1-D tensors or arrays of one length) is counted in one pass; any other form goes
    to :func:`_row_count_general`.
    """
    n = None
    for name, value in columns.items():
        if value is None or type(value) in _PLAIN_SCALARS:
            continue
        shape = getattr(value, "shape", None)
        if shape is None or len(shape) != 1 or name in _LIST_COLUMNS or (n is not None and shape[0] != n):
            return _row_count_general(columns)
        n = shape[0]
    return 1 if n is None else n


def _row_count_general(columns: dict[str, Any]) -> int:
    """:func:`_row_count` for calls of any form: lists, list columns, broadcast length-1 columns."""
    lengths: dict[str, int] = {}
    for name, value in columns.items():
        if value is None or type(value) in _PLAIN_SCALARS:
            continue
        shape = getattr(value, "shape", None)  # tensors and numpy arrays (scalars of numpy: shape ())
        if shape is not None:
            length = shape[0] if shape and (len(shape) > 1 or name not in _LIST_COLUMNS) else 1
        elif isinstance(value, (str, bytes, int, float, bool)):
            continue
        else:
            length = len(value)
            if name in _LIST_COLUMNS and length and not isinstance(value[0], (list, tuple, np.ndarray)):
                length = 1  # a single list for a single row
        lengths[name] = length
    distinct = set(lengths.values())
    n = max(distinct, default=1)
    if len(distinct) > 1:
        bad = {name: k for name, k in lengths.items() if k != n and (k != 1 or name in _LIST_COLUMNS)}
        if bad:
            raise ValueError(f"columns disagree on the number of rows ({n}): {bad}")
    return n


class MemoryRecorder(BufferedRecorder):
    """Keeps everything in memory; :meth:`tables` returns what was recorded (tests, live views)."""

    def __init__(self, run_id: str = "memory") -> None:
        super().__init__(run_id)
        self._tables: dict[str, list[pa.Table]] = defaultdict(list)
        self.status = "running"

    def tables(self) -> dict[str, pa.Table]:
        """Everything recorded so far, one Arrow table per table name."""
        for name, table in self.drain().items():
            self._tables[name].append(table)
        return {name: pa.concat_tables(parts) for name, parts in self._tables.items()}

    def finish(self, status: str = "complete") -> None:
        self.tables()
        self.status = status
