"""Buffered column chunks -> Arrow arrays: the conversion behind every recorder's drain.

A chunk is one recorder call: ``(n, {column: value})`` where a value is a Python scalar (broadcast
to the call's ``n`` rows), a sequence, a numpy array or a torch tensor on any device (``(n,)``, or
``(n, k)`` for list columns). A column of many chunks becomes ONE array: scalars are repeated with
``np.repeat``, full-length tensors on one device are concatenated there and copied once.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from typing import Any

import numpy as np
import pyarrow as pa

from tracing.schema import ARROW_SCHEMAS, OutOfRangeError

Chunk = tuple[int, dict[str, Any]]
"""``(rows, columns)`` of one recorder call."""

LIST_COLUMNS = frozenset({"topk_ids", "topk_probs", "embedding"})
"""Columns of one list per row: ``(n, k)`` tensors or arrays, or lists of lists."""


def split_chunk(chunk: Chunk, at: int) -> tuple[Chunk, Chunk]:
    """Rows ``[0, at)`` and ``[at, n)`` of a chunk (``0 < at < n``): per-row columns are sliced (views
    of tensors and arrays), scalars and length-1 columns (broadcast) are kept in both halves."""
    n, columns = chunk
    head: dict[str, Any] = {}
    tail: dict[str, Any] = {}
    for name, value in columns.items():
        shape = getattr(value, "shape", None)
        length = shape[0] if shape else (len(value) if isinstance(value, (list, tuple)) else None)
        if length is None or (length == 1 and name not in LIST_COLUMNS):  # scalar or broadcast
            head[name] = tail[name] = value
        else:
            head[name], tail[name] = value[:at], value[at:]
    return (at, head), (n - at, tail)

NUMPY_DTYPES: dict[pa.DataType, type] = {
    pa.int8(): np.int8,
    pa.int16(): np.int16,
    pa.int32(): np.int32,
    pa.int64(): np.int64,
    pa.float32(): np.float32,
    pa.float64(): np.float64,
}
"""numpy dtype of each numeric Arrow type in :data:`~tracing.schema.ARROW_SCHEMAS`."""


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
        arrays.append(column(field, values, sizes, total))
    return pa.Table.from_arrays(arrays, schema=schema)


def _repeat_string(value: str, n: int) -> pa.Array:
    return _repeat_strings([value], [n], n)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (int, float, bool, np.generic))


def column(
    field: pa.Field, values: list[Any], sizes: list[int], total: int, limits: tuple[int, int] | None = None
) -> pa.Array:
    """One Arrow array of ``field``'s type from one value per chunk (``None``: NULL rows).

    With ``limits`` (an integer column's range, :data:`~tracing.schema.LIMITS`) the values are
    range-checked before they are narrowed: out of range raises :class:`~tracing.schema.OutOfRangeError`,
    never wraps.
    """
    if all(v is None for v in values):
        return pa.nulls(total, type=field.type)
    if pa.types.is_list(field.type):
        return _list_column(field.type, values, sizes)
    if pa.types.is_string(field.type):
        return _string_column(values, sizes, total)
    data = numeric_values(field.name, NUMPY_DTYPES[field.type], values, sizes, limits)
    return pa.array(data, type=field.type, mask=_null_mask(values, sizes))


def _null_mask(values: list[Any], sizes: list[int]) -> np.ndarray | None:
    if not any(v is None for v in values):
        return None
    return np.repeat(np.array([v is None for v in values]), sizes)


def numeric_values(
    name: str, np_dtype: Any, values: list[Any], sizes: list[int], limits: tuple[int, int] | None = None
) -> np.ndarray:
    """The ``sum(sizes)`` values of a numeric column as one numpy array of ``np_dtype`` (NULLs as 0),
    range-checked against ``limits`` (see :func:`column`)."""
    if all(_is_scalar(v) for v in values):  # one value per call (e.g. step=t): repeat, no per-chunk arrays
        wide = np.array([0 if v is None else v for v in values], dtype=np.int64 if limits else np_dtype)
        if limits:
            check_range(name, wide, limits)
        return np.repeat(wide.astype(np_dtype, copy=False), sizes)
    data = _tensors_concat(values, sizes, np_dtype, name, limits)
    if data is None:
        data = np.concatenate(_to_numpy_parts(values, sizes, np.int64 if limits else np_dtype))
        if limits:
            check_range(name, data, limits)
            data = data.astype(np_dtype)
    return data


def check_range(name: str, values: Any, limits: tuple[int, int]) -> None:
    """Raise :class:`OutOfRangeError` when ``values`` (numpy array or tensor, not empty) leave ``limits``."""
    check_bounds(name, int(values.min()), int(values.max()), limits)


def check_bounds(name: str, low: int, high: int, limits: tuple[int, int]) -> None:
    """Raise :class:`OutOfRangeError` when values from ``low`` to ``high`` leave ``limits``."""
    if low < limits[0] or high > limits[1]:
        bad = low if low < limits[0] else high
        raise OutOfRangeError(
            f"{name} = {bad:,} does not fit the trace's {name} column (from {limits[0]:,} to {limits[1]:,})"
        )


def _tensors_concat(
    values: list[Any], sizes: list[int], np_dtype: Any, name: str = "", limits: tuple[int, int] | None = None
) -> np.ndarray | None:
    """Fast path when every chunk is a 1-D full-length tensor on one device: one cat, one cast, one copy
    (with ``limits``, the range is checked on the device before the cast narrows the values).

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
    if limits and (joined.dtype.is_floating_point or _wider(torch.iinfo(joined.dtype), limits)):
        low, high = torch.aminmax(joined)  # one pass, on the tensor's device
        check_range(name, np.asarray([int(low), int(high)]), limits)
    if joined.device.type == "cpu" and joined.dtype != torch.bfloat16:
        return joined.numpy().astype(np_dtype, copy=False)  # numpy's cast is ~3x faster than torch's here
    return joined.to(getattr(torch, np.dtype(np_dtype).name)).cpu().numpy()  # cast on the device, copy less


def _wider(info: Any, limits: tuple[int, int]) -> bool:
    """True when an integer dtype (``torch.iinfo``) can hold values outside ``limits``."""
    return info.min < limits[0] or info.max > limits[1]


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
    value_dtype = NUMPY_DTYPES[list_type.value_type]
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

