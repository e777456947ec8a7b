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

import math
from typing import Any

import numpy as np
import pyarrow as pa

from tracing.columns import Chunk, check_bounds, column, numeric_values
from tracing.buffers import SliceBuffers
from tracing.fills import all_instances, fill_numeric, null_column
from tracing.schema import ARROW_SCHEMAS, LIMITS, OPS, STREAM_SCHEMAS, STREAM_TABLES

StreamKey = tuple[str, int, int]
"""``(memory, layer, head)`` of a stream (the run is the recorder's)."""

_DENSE_LIMIT = 1 << 22
"""Largest (memories x layers x heads) box mapped with a dense lookup table; beyond it, np.unique."""

_PREFIX_ROWS = 4096
"""Leading rows searched first for the head codes between the lowest and highest (see _present_codes)."""

_OP_NAMES = pa.array(OPS, pa.string())

KEY_DEFAULTS: dict[str, int] = {"layer": 0, "head": 0, "batch": 0}
"""What a recorder call that omits ``layer``, ``head`` or ``batch`` records: 0."""

_VALUE_FIELDS: dict[str, list[tuple[pa.Field, str, pa.DataType]]] = {
    physical: [(field, field.name, field.type) for field in schema if field.name != "stream"]
    for physical, schema in STREAM_SCHEMAS.items()
}
"""``(field, name, type)`` of each column after ``stream``, per physical table (read once: a pyarrow
field builds a new ``str`` at every ``.name``)."""


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


def lean_table(table: str, chunks: list[Chunk], keys: StreamKeys, buffers: SliceBuffers | None = None) -> pa.Table:
    """Chunks of logical ``table`` (``memory_events`` or ``cell_states``) -> its physical table's
    Arrow layout (:data:`~tracing.schema.STREAM_SCHEMAS`), with local stream ids from ``keys``.

    Columns are written into ``buffers`` (fresh ones of the right size when None) wherever the
    chunks allow it (:func:`~tracing.fills.fill_numeric`); the table wraps those arrays without a
    copy, so it is valid until the buffers are reused. ``op`` arrives as its code (the recorder
    converts it at the call). Integer columns are range-checked (:data:`~tracing.schema.LIMITS`);
    raises ``OutOfRangeError`` / ``ValueError``.
    """
    physical = STREAM_TABLES[table]
    schema = STREAM_SCHEMAS[physical]
    sizes = [n for n, _ in chunks]
    total = sum(sizes)
    if buffers is None:
        buffers = SliceBuffers(physical, total)
    arrays = [pa.array(stream_ids(chunks, sizes, keys, buffers), pa.int32())]
    calls = [columns for _, columns in chunks]
    for field, name, arrow_type in _VALUE_FIELDS[physical]:
        default = KEY_DEFAULTS.get(name)
        values = [columns.get(name, default) for columns in calls]
        if all_instances(values, (type(None),)):
            arrays.append(null_column(arrow_type, total))
            continue
        limits = LIMITS.get(name)
        filled = fill_numeric(name, values, sizes, buffers.view(name, total), buffers, limits)
        arrays.append(column(field, values, sizes, total, limits) if filled is None else pa.array(filled, arrow_type))
    return pa.Table.from_arrays(arrays, schema=schema)


def stream_ids(chunks: list[Chunk], sizes: list[int], keys: StreamKeys, buffers: SliceBuffers) -> np.ndarray:
    """``(total,)`` int32 local stream id of every row, from each call's ``memory`` and its (scalar or
    per-row) ``layer`` and ``head``; written into ``buffers.columns["stream"]`` when it can be."""
    out = buffers.view("stream", sum(sizes))
    memories = [columns["memory"] for _, columns in chunks]
    layers = [columns.get("layer", KEY_DEFAULTS["layer"]) for _, columns in chunks]
    heads = [columns.get("head", KEY_DEFAULTS["head"]) for _, columns in chunks]
    if _all_ints(layers) and _all_ints(heads):  # one stream per call
        for name, values in (("layer", layers), ("head", heads)):
            check_bounds(name, int(min(values)), int(max(values)), LIMITS[name])
        ids = [keys.id_of((m, int(l), int(h))) for m, l, h in zip(memories, layers, heads)]
        return fill_numeric("stream", ids, sizes, out, buffers, None)
    names = list(dict.fromkeys(memories))
    codes: list[Any] = [0] * len(memories) if len(names) == 1 else [names.index(m) for m in memories]
    parts = (("memory", codes), ("layer", layers), ("head", heads))
    fixed = [_fixed(name, values) for name, values in parts]
    single = sum(value is None for value in fixed) == 1  # one varying digit: computed in place in `out`
    # each part of the key that varies between rows is one digit of a mixed-radix box index
    digits = [
        _digit(name, values, sizes, out if single else None, buffers) if value is None else (None, value, 1)
        for (name, values), value in zip(parts, fixed)
    ]
    varying = [(values, low, extent) for values, low, extent in digits if values is not None]
    size = math.prod(extent for _, _, extent in varying)
    box = None
    for values, low, extent in varying:
        if low:
            values = np.subtract(values, np.int32(low), out=values if values is out else None)
        box = values if box is None else box * np.int32(extent) + values
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
    ids = lookup.tolist()
    if len(present) == len(ids) and ids == list(range(ids[0], ids[0] + len(ids))):
        # ids follow the box codes: an add, not a gather
        return np.add(index, ids[0], out=index if index is out else None) if ids[0] else index
    return np.take(lookup, index)


def _present_codes(box: np.ndarray, size: int, one_digit: bool) -> np.ndarray:
    """The box codes that occur in ``box``. With one varying digit its lowest and highest codes occur
    by construction, and a few codes between are cheaper to test one by one than to count: first in
    the leading :data:`_PREFIX_ROWS` rows (an engine step usually covers every head), then in all."""
    if one_digit and size <= 8:
        prefix = box[:_PREFIX_ROWS]
        inner = [code for code in range(1, size - 1) if (prefix == code).any() or (box == code).any()]
        return np.asarray(sorted({0, size - 1, *inner}), np.int64)
    return np.flatnonzero(np.bincount(box, minlength=size))


def _fixed(name: str, values: list[Any]) -> int | None:
    """The one value of a key part that is the same integer in every call (range-checked), else None."""
    if _all_ints(values) and len(set(values)) == 1:
        value = int(values[0])
        if name in LIMITS:
            check_bounds(name, value, value, LIMITS[name])
        return value
    return None


def _digit(
    name: str, values: list[Any], sizes: list[int], out: np.ndarray | None, buffers: SliceBuffers
) -> tuple[np.ndarray, int, int]:
    """``(per-row int32 values, lowest value, extent)`` of a key part that varies, in ``out`` when given
    and the chunks allow it."""
    data = None if out is None else fill_numeric(name, values, sizes, out, buffers, LIMITS.get(name))
    if data is None:
        data = numeric_values(name, np.int32, values, sizes, LIMITS.get(name))
    low = int(data.min())
    return data, low, int(data.max()) - low + 1


def _all_ints(values: list[Any]) -> bool:
    """True when every value is a Python or numpy integer (not a bool)."""
    return all_instances(values, (int, np.integer), excluded=bool)


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
