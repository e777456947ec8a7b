"""Building a lean slice without allocating: columns copied straight into lent numpy buffers.

A flush builds each slice of ``stream_events`` / ``stream_states`` (:mod:`tracing.flushing`) into
:class:`~tracing.buffers.SliceBuffers` lent by the writer's pool, which ``pa.array`` then wraps
without a copy; :func:`null_column` serves the columns the engine never sets.

:func:`fill_numeric` is the copy itself, for a column whose chunks all take one simple form: a
Python scalar per call (``step=t``: filled per call), a 1-D CPU tensor of the call's length, all
of one dtype (copied, cast and range-checked in ONE compiled pass: :func:`tracing.gather.gather`),
or a 1-D numpy array of the call's length, all of one dtype (concatenated straight into the buffer;
into a scratch array of the source dtype first when the values must be range-checked before they
are narrowed). Any other form (lists, bf16 and fp16, GPU tensors, broadcast one-element tensors,
sparse tensors, NULLs in some calls) returns None and the caller falls back to
:func:`tracing.columns.column`, which handles them all; both give the same values, checks and
errors.
"""

from __future__ import annotations

import sys
from operator import attrgetter, methodcaller
from typing import Any

import numpy as np
import pyarrow as pa

from tracing.buffers import SliceBuffers
from tracing.columns import check_bounds, check_range

_SCALARS = (int, float, np.integer, np.floating)

_DTYPE, _IS_CPU, _SHAPE, _NUMEL = attrgetter("dtype"), attrgetter("is_cpu"), attrgetter("shape"), methodcaller("numel")

_LOOP_FILL_ROWS = 64
"""Scalar columns are filled call by call when calls average at least this many rows (a slice
assignment each); below that one ``np.repeat`` is cheaper than many tiny assignments."""


NULL_ROWS = 1 << 17
"""Rows of the NULL array kept per type (at least one slice, :data:`tracing.flushing.SLICE_ROWS`)."""

_NULLS: dict[pa.DataType, pa.Array] = {}


def null_column(arrow_type: pa.DataType, rows: int) -> pa.Array:
    """``rows`` NULLs of ``arrow_type``: up to :data:`NULL_ROWS`, a slice of one array kept per type,
    so a column the engine never sets (``gate``, ``other_cell``) costs no fresh memory per slice."""
    if rows > NULL_ROWS:
        return pa.nulls(rows, arrow_type)
    found = _NULLS.get(arrow_type)
    if found is None:
        found = _NULLS[arrow_type] = pa.nulls(NULL_ROWS, arrow_type)
    return found.slice(0, rows)


def all_instances(values: list[Any], kinds: tuple[type, ...], excluded: type | None = None) -> bool:
    """True when every value is an instance of ``kinds`` (and none of ``excluded``): one test per
    distinct type, not per value, and none past a first value that fails."""

    def fits(kind: type) -> bool:
        return issubclass(kind, kinds) and not (excluded and issubclass(kind, excluded))

    return not values or (fits(type(values[0])) and all(map(fits, set(map(type, values)))))


def fill_numeric(
    name: str, values: list[Any], sizes: list[int], out: np.ndarray, buffers: SliceBuffers, limits: tuple[int, int] | None
) -> np.ndarray | None:
    """``out`` (``sum(sizes)`` rows, e.g. a view of ``buffers.columns[name]``) filled with column
    ``name``'s values (one value per chunk in ``values``, ``sizes`` rows each), range-checked against
    ``limits`` (raises ``OutOfRangeError``); None when the chunks do not all take one of the simple
    forms (see the module docstring)."""
    if all_instances(values, _SCALARS):
        return _fill_scalars(name, values, sizes, out, limits)
    first = values[0]
    if hasattr(first, "detach"):
        return _fill_tensors(name, values, out, limits)
    if isinstance(first, np.ndarray):
        return _fill_arrays(name, values, sizes, out, buffers, limits)
    return None


def _fill_scalars(name: str, values: list[Any], sizes: list[int], out: np.ndarray, limits: tuple[int, int] | None) -> np.ndarray:
    """One scalar per call, repeated over its rows (checked as 64-bit integers first, as ``column`` does)."""
    wide = np.array(values, dtype=np.int64 if limits else out.dtype)
    if limits:
        check_range(name, wide, limits)
    narrow = wide.astype(out.dtype, copy=False)
    if sizes.count(sizes[0]) == len(sizes):  # calls of one size (the usual engine step): one broadcast
        out.reshape(len(sizes), sizes[0])[:] = narrow[:, None]
        return out
    if len(values) * _LOOP_FILL_ROWS > len(out):
        out[:] = np.repeat(narrow, sizes)
        return out
    start = 0
    for value, n in zip(narrow.tolist(), sizes):
        out[start : start + n] = value
        start += n
    return out


def _same_kind(source: np.dtype, target: np.dtype) -> bool:
    """Sources copied like ``column`` would: integers into integer or float columns, floats into floats
    (a float into an integer column goes the general way, which truncates before it checks)."""
    if source.kind in "iu":
        return target.kind in "iuf"
    return source.kind == "f" and target.kind == "f"


def _fill_arrays(
    name: str, values: list[Any], sizes: list[int], out: np.ndarray, buffers: SliceBuffers, limits: tuple[int, int] | None
) -> np.ndarray | None:
    dtype = values[0].dtype
    if not _same_kind(dtype, out.dtype):
        return None
    if any(not isinstance(v, np.ndarray) or v.dtype != dtype or v.ndim != 1 or len(v) != n for v, n in zip(values, sizes)):
        return None
    target = out if dtype == out.dtype else buffers.scratch_of(dtype)[: len(out)]
    np.concatenate(values, out=target)
    return _narrow(name, target, out, limits)


def _fill_tensors(name: str, values: list[Any], out: np.ndarray, limits: tuple[int, int] | None) -> np.ndarray | None:
    from tracing.gather import gather  # imports numba (~0.3 s) at a process's first flush, not with tracing

    torch = sys.modules["torch"]
    first = values[0]
    dtype = first.dtype
    if dtype in (torch.bfloat16, torch.float16, torch.bool) or dtype.is_complex:  # none of numba's numbers
        return None
    np_dtype = _numpy_dtype(dtype)
    if np_dtype is None or not _same_kind(np_dtype, out.dtype):
        return None
    # one dtype, on the CPU (the pass reads host memory), 1-D; a call's column holds its n rows or
    # one broadcast value, so full length everywhere <=> the lengths add up (each check one C-level
    # pass over the chunks: a slice holds hundreds of calls)
    if len(set(map(type, values))) > 1 or set(map(_DTYPE, values)) != {dtype} or not all(map(_IS_CPU, values)):
        return None
    lengths = _one_dim_lengths(values, len(out))
    if lengths is None:
        return None
    check = _can_exceed(np_dtype, limits)
    found = gather(values, lengths, np_dtype, out, check)  # one pass: copy, cast and range
    if found is None:
        return None
    if check:
        check_bounds(name, int(found[0]), int(found[1]), limits)
    return out


def _numpy_dtype(dtype: Any) -> np.dtype | None:
    """The numpy dtype of a torch dtype (None for one numpy lacks: float8, ...), looked up once per dtype."""
    if dtype not in _NUMPY_DTYPES_OF:
        try:
            _NUMPY_DTYPES_OF[dtype] = np.dtype(str(dtype).removeprefix("torch."))
        except TypeError:
            _NUMPY_DTYPES_OF[dtype] = None
    return _NUMPY_DTYPES_OF[dtype]


_NUMPY_DTYPES_OF: dict[Any, np.dtype | None] = {}


def _one_dim_lengths(tensors: list[Any], rows: int) -> list[int] | None:
    """The length of every tensor when all are 1-D and their lengths add up to ``rows``, else None
    (one pass over the shapes; calls of one size, the usual engine step, need no second)."""
    shapes = set(map(_SHAPE, tensors))
    if len(shapes) == 1:
        (shape,) = shapes
        return [shape[0]] * len(tensors) if len(shape) == 1 and shape[0] * len(tensors) == rows else None
    if not all(len(shape) == 1 for shape in shapes):
        return None
    lengths = list(map(_NUMEL, tensors))
    return lengths if sum(lengths) == rows else None


def _narrow(name: str, source: np.ndarray, out: np.ndarray, limits: tuple[int, int] | None) -> np.ndarray:
    """``source``'s values in ``out`` (cast unless ``source`` is ``out``), after a range check when
    ``source``'s dtype can hold values outside ``limits``."""
    if len(source) and _can_exceed(source.dtype, limits):
        check_range(name, source, limits)  # numpy's min and max: faster than one torch.aminmax here
    if source is not out:
        np.copyto(out, source, casting="unsafe")
    return out


def _can_exceed(dtype: np.dtype, limits: tuple[int, int] | None) -> bool:
    """True when values of integer ``dtype`` can fall outside ``limits`` (so they must be range-checked)."""
    if limits is None or dtype.kind not in "iu":
        return False
    info = np.iinfo(dtype)
    return info.min < limits[0] or info.max > limits[1]
