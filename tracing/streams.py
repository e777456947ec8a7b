"""Streams: the lean rows of ``memory_events`` and ``cell_states`` as a recorder builds them (no DuckDB).

A *stream* is one ``(run_id, memory, layer, head)``. A recorder numbers the streams it sees
``0, 1, 2, ...`` in order of first sight (:class:`StreamKeys`: these are its *local* ids); the
writer maps them to the trace file's ``streams.stream`` ids when it appends
(:mod:`tracing.appends`). A drained events table is then all integers and floats,
``(stream, step, batch, cell, op, weight, gate, other_cell)`` (:data:`~tracing.schema.STREAM_SCHEMAS`):
no string is repeated per row, and DuckDB stores it about twice as fast as the logical layout.

:func:`logical_table` turns such a table back into the logical columns (``run_id``, ``memory``,
``layer``, ``head``, ``op`` as text, wide integers): what :class:`~tracing.recorder.MemoryRecorder`
returns and what the ``memory_events`` / ``cell_states`` views of a trace show.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from tracing.columns import Chunk, check_range, column, numeric_values
from tracing.schema import ARROW_SCHEMAS, LIMITS, OPS, STREAM_SCHEMAS, STREAM_TABLES

StreamKey = tuple[str, int, int]
"""``(memory, layer, head)`` of a stream (the run is the recorder's)."""

_DENSE_LIMIT = 1 << 22
"""Largest (memories x layers x heads) box mapped with a dense lookup table; beyond it, np.unique."""

_OP_NAMES = pa.array(OPS, pa.string())


class StreamKeys:
    """A recorder's streams: ``keys[i]`` is the ``(memory, layer, head)`` of local stream id ``i``."""

    def __init__(self) -> None:
        self.keys: list[StreamKey] = []
        self._ids: dict[StreamKey, int] = {}

    def id_of(self, key: StreamKey) -> int:
        """The local id of ``key``, numbering it when first seen."""
        found = self._ids.get(key)
        if found is None:
            found = self._ids[key] = len(self.keys)
            self.keys.append(key)
        return found

    def __len__(self) -> int:
        return len(self.keys)


def lean_table(table: str, chunks: list[Chunk], keys: StreamKeys) -> pa.Table:
    """Chunks of logical ``table`` (``memory_events`` or ``cell_states``) -> its physical table's
    Arrow layout (:data:`~tracing.schema.STREAM_SCHEMAS`), with local stream ids from ``keys``.

    ``op`` arrives as its code (the recorder converts it at the call). Integer columns are
    range-checked (:data:`~tracing.schema.LIMITS`); raises ``OutOfRangeError`` / ``ValueError``.
    """
    schema = STREAM_SCHEMAS[STREAM_TABLES[table]]
    sizes = [n for n, _ in chunks]
    total = sum(sizes)
    arrays = [pa.array(stream_ids(chunks, sizes, keys), pa.int32())]
    for field in schema:
        if field.name != "stream":
            values = [columns.get(field.name) for _, columns in chunks]
            arrays.append(column(field, values, sizes, total, LIMITS.get(field.name)))
    return pa.Table.from_arrays(arrays, schema=schema)


def stream_ids(chunks: list[Chunk], sizes: list[int], keys: StreamKeys) -> np.ndarray:
    """``(total,)`` int32 local stream id of every row, from each call's ``memory`` and its (scalar or
    per-row) ``layer`` and ``head``."""
    memories = [columns["memory"] for _, columns in chunks]
    layers = [columns.get("layer", 0) for _, columns in chunks]
    heads = [columns.get("head", 0) for _, columns in chunks]
    if all(_is_int(v) for v in layers) and all(_is_int(v) for v in heads):  # one stream per call
        for name, values in (("layer", layers), ("head", heads)):
            check_range(name, np.asarray(values, np.int64), LIMITS[name])
        ids = [keys.id_of((m, int(l), int(h))) for m, l, h in zip(memories, layers, heads)]
        return np.repeat(np.asarray(ids, np.int32), sizes)
    names = list(dict.fromkeys(memories))
    codes: list[Any] = [names.index(m) for m in memories]
    # each part of the key that varies between rows is one digit of a mixed-radix box index
    digits = [_digit("memory", codes, sizes), _digit("layer", layers, sizes), _digit("head", heads, sizes)]
    varying = [(values, low, extent) for values, low, extent in digits if values is not None]
    size = int(np.prod([extent for _, _, extent in varying], dtype=np.int64))
    box = None
    for values, low, extent in varying:
        part = values - np.int32(low) if low else values
        box = part if box is None else box * np.int32(extent) + part
    if size <= _DENSE_LIMIT:  # dense lookup table over the box: no sort
        present = _present_codes(box, size, one_digit=len(varying) == 1)
        lookup, index, positions = np.zeros(size, np.int32), box, present
    else:
        present, index = np.unique(box, return_inverse=True)
        lookup, positions = np.zeros(len(present), np.int32), np.arange(len(present))
    for position, code in zip(positions.tolist(), present.tolist()):
        key = [low for _, low, _ in digits]  # constant parts keep their one value
        for slot in reversed([i for i, (values, _, _) in enumerate(digits) if values is not None]):
            code, offset = divmod(code, digits[slot][2])
            key[slot] += offset
        lookup[position] = keys.id_of((names[key[0]], key[1], key[2]))
    if len(present) == len(lookup) and np.array_equal(lookup, lookup[0] + np.arange(len(lookup), dtype=np.int32)):
        return index + lookup[0] if lookup[0] else index  # ids follow the box codes: an add, not a gather
    return np.take(lookup, index)


def _present_codes(box: np.ndarray, size: int, one_digit: bool) -> np.ndarray:
    """The box codes that occur in ``box``. With one varying digit its lowest and highest codes occur
    by construction, and a few codes between are cheaper to test one by one than to count."""
    if one_digit and size <= 8:
        inner = [code for code in range(1, size - 1) if (box == code).any()]
        return np.asarray(sorted({0, size - 1, *inner}), np.int64)
    return np.flatnonzero(np.bincount(box, minlength=size))


def _digit(name: str, values: list[Any], sizes: list[int]) -> tuple[np.ndarray | None, int, int]:
    """``(per-row int32 values or None when one value fits every row, lowest value, extent)``."""
    if all(_is_int(v) for v in values) and len(set(values)) == 1:
        if name in LIMITS:
            check_range(name, np.asarray(values[:1], np.int64), LIMITS[name])
        return None, int(values[0]), 1
    data = numeric_values(name, np.int32, values, sizes, LIMITS.get(name))
    low = int(data.min())
    return data, low, int(data.max()) - low + 1


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def logical_table(table: str, lean: pa.Table, keys: StreamKeys, run_id: str) -> pa.Table:
    """A lean table of logical ``table`` (local stream ids of ``keys``) -> ``ARROW_SCHEMAS[table]``."""
    schema = ARROW_SCHEMAS[table]
    stream = lean.column("stream").to_numpy()
    memories = pa.array([k[0] for k in keys.keys], pa.string())
    by_name: dict[str, Any] = {
        "run_id": pa.repeat(pa.scalar(run_id, pa.string()), lean.num_rows),
        "memory": memories.take(pa.array(stream)),
        "layer": pa.array(np.asarray([k[1] for k in keys.keys], np.int16)[stream], pa.int16()),
        "head": pa.array(np.asarray([k[2] for k in keys.keys], np.int16)[stream], pa.int16()),
    }
    if "op" in lean.column_names:
        by_name["op"] = _OP_NAMES.take(lean.column("op"))
    arrays = [by_name[f.name] if f.name in by_name else lean.column(f.name).cast(f.type) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)
