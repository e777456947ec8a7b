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

import sys
import threading
from collections import defaultdict
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pyarrow as pa

from tracing.schema import ARROW_SCHEMAS

_LIST_COLUMNS = {"topk_ids", "topk_probs", "embedding"}

_PLAIN_SCALARS = frozenset({str, int, float, bool, bytes})

_COLUMN_NAMES: dict[str, frozenset[str]] = {table: frozenset(schema.names) for table, schema in ARROW_SCHEMAS.items()}

_NUMPY_DTYPES: dict[pa.DataType, type] = {
    pa.int16(): np.int16,
    pa.int32(): np.int32,
    pa.int64(): np.int64,
    pa.float32(): np.float32,
    pa.float64(): np.float64,
}
"""numpy dtype of each numeric Arrow type in :data:`~tracing.schema.ARROW_SCHEMAS`."""


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
    appends while a flush thread drains.
    """

    enabled = True

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self._lock = threading.Lock()
        self._chunks: dict[str, list[tuple[int, dict[str, Any]]]] = defaultdict(list)
        self._pending = 0  # rows in self._chunks, kept so that pending_rows() is O(1)

    # -- engine-facing -------------------------------------------------------------------
    def steps(self, *, step: Any, batch: Any = 0, **columns: Any) -> None:
        self._append("steps", dict(step=step, batch=batch, **columns))

    def events(self, *, step: Any, op: str, memory: str, cell: Any, **columns: Any) -> None:
        columns.setdefault("layer", 0)
        columns.setdefault("head", 0)
        columns.setdefault("batch", 0)
        self._append("memory_events", dict(step=step, op=op, memory=memory, cell=cell, **columns))

    def cell_states(self, *, step: Any, memory: str, cell: Any, **columns: Any) -> None:
        columns.setdefault("layer", 0)
        columns.setdefault("head", 0)
        columns.setdefault("batch", 0)
        self._append("cell_states", dict(step=step, memory=memory, cell=cell, **columns))

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

    def drain(self, *, with_run_id: bool = True) -> dict[str, pa.Table]:
        """Take every buffered chunk and return one Arrow table per non-empty table.

        ``with_run_id=False`` leaves out the ``run_id`` column (a writer that supplies it as one
        bound value saves building a string per row).
        """
        with self._lock:
            taken, self._chunks = self._chunks, defaultdict(list)
            self._pending = 0
        run_id = self.run_id if with_run_id else None
        return {table: chunks_to_table(table, chunks, run_id) for table, chunks in taken.items() if chunks}


def _row_count(columns: dict[str, Any]) -> int:
    """Rows in one call: the length of the array-like columns (1 when all are scalars).

    Raises ``ValueError`` at the call when lengths disagree (a column of length 1 is broadcast,
    except list columns, whose ``(n, k)`` must match; a 1-D list column is one row).
    """
    lengths: dict[str, int] = {}
    for name, value in columns.items():
        if value is None or type(value) in _PLAIN_SCALARS:
            continue
        shape = getattr(value, "shape", None)  # tensors and numpy arrays (scalars of numpy: shape ())
        if shape is not None:
            ndim = len(shape)
            length = 1 if ndim == 0 or (ndim == 1 and name in _LIST_COLUMNS) else shape[0]
        elif isinstance(value, (str, bytes, int, float, bool)):
            continue
        else:
            length = len(value)
            if name in _LIST_COLUMNS and length and not isinstance(value[0], (list, tuple, np.ndarray)):
                length = 1  # a single list for a single row
        lengths[name] = length
    n = max(lengths.values(), default=1)
    bad = {name: k for name, k in lengths.items() if k != n and (k != 1 or name in _LIST_COLUMNS)}
    if bad:
        raise ValueError(f"columns disagree on the number of rows ({n}): {bad}")
    return n


def chunks_to_table(table: str, chunks: list[tuple[int, dict[str, Any]]], run_id: str | None) -> pa.Table:
    """Build one Arrow table in ``ARROW_SCHEMAS[table]`` layout (less ``run_id`` when it is None) from chunks."""
    schema = ARROW_SCHEMAS[table]
    if run_id is None:
        schema = schema.remove(schema.get_field_index("run_id"))
    sizes = [n for n, _ in chunks]
    total = sum(sizes)
    arrays = []
    for field in schema:
        if field.name == "run_id":
            arrays.append(_repeat_string(run_id, total))
            continue
        values = [columns.get(field.name) for _, columns in chunks]
        arrays.append(_column(field, values, sizes, total))
    return pa.Table.from_arrays(arrays, schema=schema)


def _repeat_string(value: str, n: int) -> pa.Array:
    return _repeat_strings([value], [n], n)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (int, float, bool, np.generic))


def _column(field: pa.Field, values: list[Any], sizes: list[int], total: int) -> pa.Array:
    if all(v is None for v in values):
        return pa.nulls(total, type=field.type)
    if pa.types.is_list(field.type):
        return _list_column(field.type, values, sizes)
    if pa.types.is_string(field.type):
        return _string_column(values, sizes, total)
    np_dtype = _NUMPY_DTYPES[field.type]
    mask = None
    if any(v is None for v in values):
        mask = np.repeat(np.array([v is None for v in values]), sizes)
    if all(_is_scalar(v) for v in values):  # one value per call (e.g. step=t): repeat, no per-chunk arrays
        data = np.repeat(np.array([0 if v is None else v for v in values], dtype=np_dtype), sizes)
    else:
        data = _tensors_concat(values, sizes, np_dtype)
        if data is None:
            data = np.concatenate(_to_numpy_parts(values, sizes, np_dtype))
    return pa.array(data, type=field.type, mask=mask)


def _tensors_concat(values: list[Any], sizes: list[int], np_dtype: Any) -> np.ndarray | None:
    """Fast path when every chunk is a 1-D full-length tensor on one device: one cat, one cast, one copy.

    Returns None when it does not apply (scalars, numpy, broadcasting, other shapes, several devices).
    """
    if not all(hasattr(v, "detach") for v in values):
        return None
    if any(v.dim() != 1 or v.shape[0] != n for v, n in zip(values, sizes)):
        return None
    torch = sys.modules["torch"]
    try:
        with torch.no_grad():  # cheaper than one detach() per chunk
            joined = torch.cat(values)
    except RuntimeError:  # tensors on several devices
        return None
    return joined.to(getattr(torch, np.dtype(np_dtype).name)).cpu().numpy()


def _repeat_strings(values: list[str | None], sizes: list[int], total: int) -> pa.Array:
    """One string (or None) per chunk, repeated over the chunk's rows, built straight from Arrow buffers."""
    encoded = [b"" if v is None else v.encode() for v in values]
    lengths = np.array([len(e) for e in encoded], np.int64)
    nbytes = int(lengths @ np.asarray(sizes, np.int64))
    if nbytes >= 2**31:
        raise ValueError(f"a string column holds {nbytes:,} bytes in one flush (limit 2 GiB); flush more often")
    offsets = np.zeros(total + 1, np.int32)
    if len(set(lengths.tolist())) == 1:
        offsets[1:] = np.arange(1, total + 1, dtype=np.int32) * np.int32(lengths[0])
    else:
        np.cumsum(np.repeat(lengths.astype(np.int32), sizes), out=offsets[1:])
    data = encoded[0] * total if len(set(encoded)) == 1 else b"".join(e * n for e, n in zip(encoded, sizes))
    bitmap, nulls = None, 0
    if any(v is None for v in values):
        valid = np.repeat(np.array([v is not None for v in values]), sizes)
        bitmap, nulls = pa.py_buffer(np.packbits(valid, bitorder="little")), int(total - valid.sum())
    return pa.StringArray.from_buffers(total, pa.py_buffer(offsets), pa.py_buffer(data), bitmap, nulls)


def _string_column(values: list[Any], sizes: list[int], total: int) -> pa.Array:
    """Scalars (one string per call) are repeated from buffers; lists are taken as is."""
    if all(v is None or isinstance(v, str) for v in values):
        return _repeat_strings(values, sizes, total)
    rows: list[str | None] = []
    for v, n in zip(values, sizes):
        rows.extend([v] * n if v is None or isinstance(v, str) else [None if s is None else str(s) for s in v])
    return pa.array(rows, type=pa.string())


def _to_numpy_parts(values: list[Any], sizes: list[int], np_dtype: Any) -> list[np.ndarray]:
    """One numpy array of length n per chunk; tensors are concatenated on their device and copied once."""
    parts: list[np.ndarray | None] = [None] * len(values)
    tensor_idx = [i for i, v in enumerate(values) if hasattr(v, "detach")]
    if tensor_idx:
        torch = sys.modules["torch"]
        flat = [values[i].detach().reshape(-1) for i in tensor_idx]
        cast = torch.float32 if np.issubdtype(np_dtype, np.floating) else torch.int64
        by_device: dict[Any, list[int]] = defaultdict(list)
        for j, t in enumerate(flat):
            by_device[t.device].append(j)
        for js in by_device.values():
            host = torch.cat([flat[j].to(cast) for j in js]).cpu().numpy()
            offsets = np.cumsum([0] + [flat[j].numel() for j in js])
            for j, a, b in zip(js, offsets[:-1], offsets[1:]):
                parts[tensor_idx[j]] = host[a:b].astype(np_dtype, copy=False)
    for i, (v, n) in enumerate(zip(values, sizes)):
        if parts[i] is not None:
            arr = parts[i]
        elif v is None:
            arr = np.zeros(n, dtype=np_dtype)
        else:
            arr = np.asarray(v, dtype=np_dtype).reshape(-1)
        if arr.size == 1 and n != 1:
            arr = np.full(n, arr[0], dtype=np_dtype)
        if arr.size != n:
            raise ValueError(f"column has {arr.size} values for {n} rows")
        parts[i] = arr
    return parts  # type: ignore[return-value]


def _list_column(list_type: pa.DataType, values: list[Any], sizes: list[int]) -> pa.Array:
    """``(n, k)`` arrays (or lists of lists) per chunk -> one Arrow list array."""
    value_dtype = _NUMPY_DTYPES[list_type.value_type]
    fast = _tensor_rows_concat(values, sizes, value_dtype)
    if fast is not None:
        k = fast.shape[1]
        offsets = np.arange(0, fast.shape[0] * k + 1, k, dtype=np.int32)
        return pa.ListArray.from_arrays(pa.array(offsets), pa.array(fast.reshape(-1), type=list_type.value_type))
    flats: list[np.ndarray] = []
    lengths: list[np.ndarray] = []
    null_rows: list[np.ndarray] = []
    for v, n in zip(values, sizes):
        if v is None:
            flats.append(np.zeros(0, value_dtype))
            lengths.append(np.zeros(n, np.int64))
            null_rows.append(np.ones(n, bool))
            continue
        if hasattr(v, "detach"):
            t = v.detach()
            t = t.float() if np.issubdtype(value_dtype, np.floating) else t.long()
            arr = t.cpu().numpy()
        elif isinstance(v, np.ndarray) and v.dtype != object:
            arr = v
        else:
            rows = list(v)
            if rows and not isinstance(rows[0], (list, tuple, np.ndarray)):
                rows = [rows]
            row_lengths = np.array([len(r) for r in rows], np.int64)
            flats.append(np.concatenate([np.asarray(r, value_dtype) for r in rows]) if rows else np.zeros(0, value_dtype))
            lengths.append(row_lengths)
            null_rows.append(np.zeros(len(rows), bool))
            continue
        arr = np.asarray(arr, dtype=value_dtype)
        if arr.ndim == 1:
            arr = arr.reshape(1, -1)
        flats.append(arr.reshape(-1))
        lengths.append(np.full(arr.shape[0], arr.shape[1], np.int64))
        null_rows.append(np.zeros(arr.shape[0], bool))
    all_lengths = np.concatenate(lengths)
    offsets = np.concatenate([[0], np.cumsum(all_lengths)]).astype(np.int32)
    nulls = np.concatenate(null_rows)
    flat = pa.array(np.concatenate(flats), type=list_type.value_type)
    return pa.ListArray.from_arrays(pa.array(offsets), flat, mask=pa.array(nulls) if nulls.any() else None)


def _tensor_rows_concat(values: list[Any], sizes: list[int], value_dtype: Any) -> np.ndarray | None:
    """``(total, k)`` from ``(n, k)`` tensors with one ``k`` on one device (one copy), else None."""
    if not all(hasattr(v, "detach") and v.dim() == 2 for v in values):
        return None
    if len({v.shape[1] for v in values}) > 1 or len({v.device for v in values}) > 1:
        return None
    if any(v.shape[0] != n for v, n in zip(values, sizes)):
        return None
    torch = sys.modules["torch"]
    with torch.no_grad():
        joined = torch.cat(values)
    return joined.to(getattr(torch, np.dtype(value_dtype).name)).cpu().numpy()


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
