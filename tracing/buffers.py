"""The numpy arrays a flush builds each lean slice into, lent out and taken back the moment DuckDB lets go.

A flush builds every slice of ``stream_events`` / ``stream_states`` (:mod:`tracing.flushing`) into a
:class:`SliceBuffers`: one numpy array of ``capacity`` rows per column of the physical table, in the
column's Arrow type, whose views ``pa.array`` wraps without a copy (:mod:`tracing.fills`).

A :class:`BufferPool` LENDS them: every view a build takes (:meth:`SliceBuffers.view`) is watched
through a weak reference, and when the last one is gone (DuckDB has released the slice's Arrow batch
and the writer its table) the arrays go back to the pool at once, from whichever thread dropped the
last view. DuckDB releases a batch as soon as it has appended it (measured: at most two slices of
one ``INSERT`` are alive at a time), so a flush of any size cycles through a few buffers whose memory
is still in the CPU's caches, instead of writing every slice into memory of its own: the build
took ~6 ns per event that way against ~8 ns over 33 buffers in turn (a 4 M-row flush), and a
writer keeps ~10 MB of buffers instead of ~55 MB per 2 M rows in flight
(docs/benchmarks/ingest.md). A failed flush rebuilds its slices from the rows it kept.

Between recorders, a bounded store of the process keeps free buffers (:data:`RETAINED_ROWS`), so the
next recorder's first flush writes into memory that is already mapped.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable

import numpy as np

from tracing.columns import NUMPY_DTYPES
from tracing.schema import STREAM_SCHEMAS


class SliceBuffers:
    """Numpy arrays of ``capacity`` rows for the columns of ``physical`` (``STREAM_SCHEMAS``), and the
    scratch arrays of the pool they came from (source-dtype copies before a range check).

    Lent by a pool (:meth:`lend`), the buffers are busy until :meth:`seal` has been called AND every
    view taken with :meth:`view` is gone; then ``on_free(self)`` runs (once per loan).
    """

    def __init__(self, physical: str, capacity: int, scratch: dict[np.dtype, np.ndarray] | None = None) -> None:
        self.physical = physical
        self.capacity = capacity
        self.columns = {field.name: np.empty(capacity, NUMPY_DTYPES[field.type]) for field in STREAM_SCHEMAS[physical]}
        self.scratch = {} if scratch is None else scratch
        self._on_free: Callable[[SliceBuffers], None] | None = None
        self._holds = 0
        self._views: list[weakref.ref] = []
        self._lock = threading.RLock()  # a view may die (and release) inside view()

    def scratch_of(self, dtype: np.dtype) -> np.ndarray:
        """A reused array of ``capacity`` values of ``dtype`` (valid until the next fill)."""
        found = self.scratch.get(dtype)
        if found is None or len(found) < self.capacity:
            found = self.scratch[dtype] = np.empty(self.capacity, dtype)
        return found

    def view(self, name: str, rows: int) -> np.ndarray:
        """The first ``rows`` values of column ``name`` to build into (watched while the buffers are lent)."""
        out = self.columns[name][:rows]
        if self._on_free is not None:
            with self._lock:
                self._holds += 1
                self._views.append(weakref.ref(out, self._release))
        return out

    def lend(self, on_free: Callable[[SliceBuffers], None]) -> SliceBuffers:
        """Start a loan: the builder holds the buffers until :meth:`seal`."""
        self._on_free, self._holds = on_free, 1
        return self

    def seal(self) -> None:
        """The build is over (built or failed): the buffers are free once its views are gone."""
        self._release(None)

    def _release(self, _: weakref.ref | None) -> None:
        with self._lock:
            if self._on_free is None:  # not lent (a slice too large for the pool)
                return
            self._holds -= 1
            if self._holds:
                return
            on_free, self._on_free = self._on_free, None
            self._views.clear()
        on_free(self)


class BufferPool:
    """:class:`SliceBuffers` of ``capacity`` rows per physical table, lent to one recorder's builds.

    :meth:`take` lends free buffers (taken back when the slice is released, see the module
    docstring); a slice of more rows than ``capacity`` gets buffers of its own, never pooled. Builds
    from one pool must not run concurrently (they share the scratch arrays): a writer builds one slice
    at a time. Buffers come back from any thread.

    :meth:`clear` (a recorder finishing) hands the free buffers to a store shared by the process,
    which keeps at most :data:`RETAINED_ROWS` rows per table, and :meth:`take` draws from that store
    before it allocates.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._free: dict[str, list[SliceBuffers]] = {physical: [] for physical in STREAM_SCHEMAS}
        self._scratch: dict[np.dtype, np.ndarray] = {}
        self._lock = threading.Lock()

    def take(self, physical: str, rows: int) -> SliceBuffers:
        """Buffers for a slice of ``rows`` rows, lent until sealed and released."""
        if rows > self.capacity:
            return SliceBuffers(physical, rows)
        with self._lock:
            free = self._free[physical]
            found = free.pop() if free else None
        if found is None:
            found = _RETAINED.take(physical, self.capacity) or SliceBuffers(physical, self.capacity)
            found.scratch = self._scratch
        return found.lend(self._give_back)

    def _give_back(self, buffers: SliceBuffers) -> None:
        with self._lock:
            self._free[buffers.physical].append(buffers)

    def clear(self) -> None:
        """Hand the free arrays to the process's store (up to its bound; the rest is freed) and drop
        the scratch arrays: a finished recorder keeps no memory of its own."""
        with self._lock:
            for free in self._free.values():
                for buffers in free:
                    buffers.scratch = {}
                    _RETAINED.keep(buffers)
                free.clear()
            self._scratch.clear()


RETAINED_ROWS = 8 * 122_880
"""Rows of slice buffers per physical table that a process keeps between recorders (eight slices of
:data:`tracing.flushing.SLICE_ROWS`, about 27 MB for ``stream_events``: more than a flush has in
flight), so a recorder's first flush need not map fresh memory."""


class _RetainedBuffers:
    """The process's store of free :class:`SliceBuffers` between recorders (thread-safe, bounded)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._free: dict[tuple[str, int], list[SliceBuffers]] = {}

    def take(self, physical: str, capacity: int) -> SliceBuffers | None:
        with self._lock:
            free = self._free.get((physical, capacity))
            return free.pop() if free else None

    def keep(self, buffers: SliceBuffers) -> None:
        with self._lock:
            free = self._free.setdefault((buffers.physical, buffers.capacity), [])
            if (len(free) + 1) * buffers.capacity <= RETAINED_ROWS:
                free.append(buffers)

    def clear(self) -> None:
        with self._lock:
            self._free.clear()


_RETAINED = _RetainedBuffers()


def release_retained() -> None:
    """Free the slice buffers the process keeps between recorders (the next recorder starts cold)."""
    _RETAINED.clear()
