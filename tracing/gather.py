"""One compiled pass that copies a slice's column out of the engine's CPU tensors.

A slice column arrives as the 1-D tensors of hundreds of recorder calls. Joining them with
``torch.cat`` into a scratch array of their own dtype, scanning that for its lowest and highest value
(the range check before narrowing) and casting it into the column's buffer reads and writes every
value three to four times; :func:`gather` does it in ONE pass that reads each source value once,
writes it cast into ``out`` and keeps the range, without the GIL (numba, ``nogil``). Measured here on
a slice of 60 calls of 2,048 int64 cells into int32: ~25 us for the pass against ~130 us for
cat + min/max + cast (docs/benchmarks/ingest.md).

The compiled functions are cached on disk by numba (``cache=True``): a machine's first use of a
(source dtype, column dtype) pair compiles for ~0.2-0.5 s, later processes load it (a process's
first use: ~0.2 s, after ~0.3 s to import numba).
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
from numba import types
from numba.extending import intrinsic


@intrinsic
def _pointer(typingctx: Any, address: Any, like: Any) -> Any:
    """``address`` (an int64) as a pointer to ``like``'s dtype (``like`` is an array of that dtype)."""
    signature = types.CPointer(like.dtype)(address, like)

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        return builder.inttoptr(args[0], context.get_value_type(sig.return_type))

    return signature, codegen


@numba.njit(nogil=True, cache=True)
def _gather(addresses: np.ndarray, lengths: np.ndarray, strides: np.ndarray, like: np.ndarray, out: np.ndarray, track: bool) -> Any:
    """Source ``i`` (``lengths[i] >= 1`` values of ``like.dtype`` at ``addresses[i]``, ``strides[i]``
    values apart) -> ``out[offset_i : offset_i + lengths[i]]`` (cast); returns the sources' (lowest,
    highest) when ``track`` (else the first value twice: floats' min/max would not vectorise)."""
    low = high = numba.carray(_pointer(addresses[0], like), (1,))[0]
    position = 0
    for i in range(addresses.shape[0]):
        n, stride = lengths[i], strides[i]
        source = numba.carray(_pointer(addresses[i], like), ((n - 1) * stride + 1,))
        target = out[position : position + n]
        if stride == 1 and not track:  # contiguous: loops the compiler vectorises
            for j in range(n):
                target[j] = source[j]
        elif stride == 1:
            for j in range(n):
                value = source[j]
                target[j] = value
                low = min(low, value)
                high = max(high, value)
        else:  # a strided view (a column of a 2-D tensor) or an expanded one (stride 0)
            for j in range(n):
                value = source[j * stride]
                target[j] = value
                low = min(low, value)
                high = max(high, value)
        position += n
    return low, high


_LIKE: dict[np.dtype, np.ndarray] = {}
"""An empty array per source dtype: tells the compiled pass what its addresses point at."""


def gather(tensors: list[Any], sizes: list[int], dtype: np.dtype, out: np.ndarray, track: bool) -> tuple[Any, Any] | None:
    """Copy 1-D CPU ``tensors`` of numpy-equivalent ``dtype`` (an integer or float32/float64: numba
    has no float16) and ``sizes`` values each (their current lengths), in order, into ``out``
    (``sum(sizes)`` values, cast to ``out.dtype`` as numpy's unsafe casting does); return their
    lowest and highest value when ``track``. None for an empty tensor or one without plain memory
    (sparse), which the caller copies its way.

    The tensors must stay alive and unchanged during the call (a flush holds its calls' columns).
    """
    if 0 in sizes:  # an empty tensor may point nowhere
        return None
    try:
        addresses = np.array([tensor.data_ptr() for tensor in tensors], np.int64)
    except RuntimeError:  # no storage to point at
        return None
    if all([tensor.is_contiguous() for tensor in tensors]):
        strides = _ones(len(tensors))
    else:
        strides = np.array([tensor.stride(0) for tensor in tensors], np.int64)
    like = _LIKE.get(dtype)
    if like is None:
        like = _LIKE[dtype] = np.empty(0, dtype)
    return _gather(addresses, np.array(sizes, np.int64), strides, like, out, track)


def _ones(count: int) -> np.ndarray:
    """``count`` strides of 1 (kept: most slices are contiguous calls, of a few distinct counts)."""
    found = _ONES.get(count)
    if found is None:
        found = _ONES[count] = np.ones(count, np.int64)
    return found


_ONES: dict[int, np.ndarray] = {}
