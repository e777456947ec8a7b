"""The write side of a trace: :class:`DuckDBRecorder` appends a run to a DuckDB file as it happens.

The engine calls the recorder's columnar methods (see :mod:`tracing.recorder`); they only buffer.
A background thread flushes every ``flush_interval`` seconds (and early when more than
``max_buffered_rows`` rows wait): it takes the buffer and, in ONE transaction together with a
heartbeat, builds Arrow tables of about a million rows and appends each with one
``INSERT ... SELECT * FROM <arrow view>`` (never row by row; :mod:`tracing.appends`). Events and
cell states are built in the lean per-stream layout (integers only, :mod:`tracing.streams`), and
the next table is built while DuckDB appends the previous one on its 2 threads
(:mod:`tracing.flushing`). Streams first seen in a flush are registered in ``streams`` in the same
transaction.

The writer RELEASES the file between flushes (attach, append, commit, detach): DuckDB blocks every
other process from opening a file a writer holds, even read-only, so holding it would make a live
run invisible. Readers open read-only between flushes; both sides wait out the other's short hold
(:func:`tracing.connection.retry_while_locked`). In one process, a lock per file serialises the
flushes of several recorders.

Crash semantics: a run killed at any moment keeps every row of every committed flush (at most the
last ``flush_interval`` of data is lost) and shows as ``crashed`` (:mod:`tracing.liveness`). A
failed flush loses nothing: its rows are kept and retried at the next interval; when the final
flush in :meth:`DuckDBRecorder.finish` still fails, :class:`FlushError` says so. Rows whose columns
cannot be converted (a value out of range, text for a number) are dropped, by slice, and reported
by ``finish()`` (and ``flush()``).

Indexing: after the final flush has committed the run's rows and status, ``finish`` indexes the run
(:func:`tracing.store.index_runs` for this run only, in its own hold of the file) unless
``index_on_finish=False``. Indexing only adds derived tables: when it fails, a warning is logged,
the run stays un-indexed (the store answers from the raw tables) and its data and status are kept.
"""

from __future__ import annotations

import atexit
import concurrent.futures.thread  # noqa: F401 - pyarrow imports it lazily; too late in an atexit flush
import importlib.metadata
import json
import logging
import os
import platform
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from tracing.appends import append_lean, append_logical, next_stream_id, register_streams
from tracing.connection import attach_trace, detach_trace
from tracing.errors import TraceError
from tracing.buffers import BufferPool
from tracing.flushing import SLICE_ROWS, Slice, StreamMap, slices
from tracing.hosts import keep_writer_host, take_writer_host
from tracing.liveness import HEARTBEAT_PERIOD_S, mark_crashed, this_host, utc_now
from tracing.recorder import BufferedRecorder
from tracing.schema import SCHEMA_VERSION, STREAM_SCHEMAS, STREAM_TABLES, logical_schema
from tracing.store import index_runs

log = logging.getLogger(__name__)

DEFAULT_MAX_BUFFERED_ROWS = 2_000_000
"""Rows buffered (all tables) that trigger a flush before the interval is up (bounds memory)."""

BACKPRESSURE_FACTOR = 2
"""With this many times ``max_buffered_rows`` buffered, a recorder call waits for the flush thread
to take the buffer (DuckDB appends slower than a fast engine records: memory must stay bounded)."""

FINISH_ATTEMPTS = 3
"""Tries of the final flush in :meth:`DuckDBRecorder.finish` before it raises :class:`FlushError`."""

WARN_AFTER_FAILURES = 3
"""Consecutive failed background flushes after which a warning is logged (data is still kept)."""

_ATTACHED = "memscope_trace"
_VERSIONED_PACKAGES = ("memscope", "torch", "transformers", "duckdb", "pyarrow")

_path_locks: dict[str, threading.Lock] = {}
_path_locks_guard = threading.Lock()
_unfinished: set[DuckDBRecorder] = set()


class FlushError(TraceError):
    """Recorded rows could not be written to the trace file (they are kept in memory)."""


class RecorderFinishedError(RuntimeError):
    """A recorder was called after :meth:`DuckDBRecorder.finish` (the rows would never be written)."""


def path_lock(path: str | Path) -> threading.Lock:
    """The process-wide lock of one trace file: one flush at a time per file in this process."""
    key = str(Path(path).resolve())
    with _path_locks_guard:
        return _path_locks.setdefault(key, threading.Lock())


def software_versions() -> dict[str, str | None]:
    """Python and the packages a trace's numbers depend on: an imported package's own ``__version__``
    (which keeps a build's local label, e.g. torch's ``+cu130``, that a wheel's metadata may lack),
    else its installed metadata (nothing is imported)."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for package in _VERSIONED_PACKAGES:
        loaded = getattr(sys.modules.get(package), "__version__", None)
        try:
            versions[package] = str(loaded) if loaded is not None else importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    return versions


class DuckDBRecorder(BufferedRecorder):
    """Records one run into the trace file at ``path`` (created when missing), flushing in the background.

    ``flush_interval`` (s) bounds how much data a crash can lose and how late a reader sees it.
    ``on_flush(total_rows)`` is called on the flush thread after every committed flush;
    :attr:`flushed_rows` holds the same count. Use as a context manager, or call :meth:`finish`.
    ``index_on_finish`` makes :meth:`finish` index the run (see the module docstring); :attr:`indexed`
    says whether it was.

    State: ``failures`` (failed flushes in a row) and ``error`` (the last one's exception), whose
    rows are kept (:meth:`unwritten_rows`); ``dropped_rows``/``drop_error`` for rows whose columns
    could not be converted. A file that is not a trace, or stays locked for ``lock_timeout``
    seconds, raises from the constructor (``tracing.errors.TraceError``).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        name: str | None = None,
        family: str,
        model: str | None = None,
        config: dict[str, Any] | None = None,
        input: str | None = None,  # noqa: A002 - the runs column is called input
        device: str | None = None,
        flush_interval: float = 1.0,
        max_buffered_rows: int = DEFAULT_MAX_BUFFERED_ROWS,
        cell_state_sampling: str | None = None,
        lock_timeout: float = 5.0,
        on_flush: Callable[[int], None] | None = None,
        index_on_finish: bool = True,
    ) -> None:
        if not flush_interval > 0:
            raise ValueError(f"flush_interval must be positive, got {flush_interval}")
        if max_buffered_rows < 1:
            raise ValueError(f"max_buffered_rows must be at least 1, got {max_buffered_rows}")
        super().__init__(uuid.uuid4().hex)
        self.path = Path(path)
        self.flush_interval = float(flush_interval)
        self.max_buffered_rows = int(max_buffered_rows)
        self.lock_timeout = float(lock_timeout)
        self.on_flush = on_flush
        self.index_on_finish = bool(index_on_finish)
        self.indexed = False
        self.status = "running"
        self.writer_pid = os.getpid()
        self.flushed_rows = 0
        self.error: Exception | None = None
        self.failures = 0
        self.dropped_rows = 0
        self.drop_error: Exception | None = None
        self._unwritten: list[Slice] = []  # taken from the buffer, not committed yet (kept on failure)
        self._pool = BufferPool(SLICE_ROWS)  # lends the lean slices their arrays (tracing.buffers)
        self._stream_map = StreamMap(self.run_id, self.streams)
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._final_status = "complete"  # set by finish() before it sets _closing
        self._final_committed = False
        self._drained = threading.Condition()
        now = utc_now()
        run_row = dict(
            run_id=self.run_id,
            name=name,
            created=now,
            heartbeat=now,
            status="running",
            family=family,
            model=model,
            config=None if config is None else json.dumps(config, sort_keys=True, default=str),
            input=input,
            device=device,
            versions=json.dumps(software_versions(), sort_keys=True),
            schema_version=SCHEMA_VERSION,
            writer_pid=self.writer_pid,
            writer_host=this_host(),
            cell_state_sampling=cell_state_sampling,
        )
        self._host = take_writer_host()  # flushes ATTACH the file here (see _holding_file)
        try:
            self._create_run(lambda con: _insert_run(con, run_row))
        except BaseException:  # not a trace, locked, ...: nothing to flush; the instance serves the next writer
            keep_writer_host(self._host)
            raise
        self._thread = threading.Thread(target=self._flush_loop, name=f"memscope-flush-{self.run_id[:8]}", daemon=True)
        _unfinished.add(self)
        self._thread.start()

    # -- engine-facing -------------------------------------------------------------------
    def _append(self, table: str, columns: dict[str, Any]) -> None:
        if self.status != "running":
            raise RecorderFinishedError(f"run {self.run_id} is finished ({self.status}); nothing more can be recorded")
        super()._append(table, columns)
        if self._pending >= self.max_buffered_rows:
            if not self._wake.is_set():
                self._wake.set()
                time.sleep(0)  # hand the GIL to the flush thread now, not a switch interval (5 ms) later
            if self._pending >= BACKPRESSURE_FACTOR * self.max_buffered_rows:
                self._wait_for_drain()

    def _wait_for_drain(self) -> None:
        """Block the engine until the flush thread has taken the buffer (bounds host and GPU memory)."""
        with self._drained:
            while self._pending >= BACKPRESSURE_FACTOR * self.max_buffered_rows and not self._closing.is_set():
                self._drained.wait(0.5)

    def flush(self) -> None:
        """Write everything buffered now (raises :class:`FlushError` if it cannot, nothing lost; or when
        rows had to be dropped because their columns could not be converted)."""
        dropped = self.dropped_rows
        try:
            self._flush()
        except Exception as exc:
            raise FlushError(f"{self.path}: flush of run {self.run_id} failed: {exc}") from exc
        if self.dropped_rows > dropped:
            raise FlushError(
                f"{self.path}: {self.dropped_rows - dropped} rows of run {self.run_id} were dropped because their "
                f"columns could not be converted: {self.drop_error}"
            ) from self.drop_error

    def finish(self, status: str = "complete") -> None:
        """Stop the flush thread, write what is left and set the run's status (``complete``/``crashed``),
        then index the run when ``index_on_finish`` (a failure to index only logs a warning)."""
        if status not in ("complete", "crashed"):
            raise ValueError(f"finish status must be 'complete' or 'crashed', got {status!r}")
        if self.status != "running":
            return
        self._final_status = status  # a background flush under way commits the rest with it (_flush)
        self._closing.set()
        self._wake.set()
        self._thread.join()
        last: Exception | None = None
        for attempt in range(FINISH_ATTEMPTS):
            if self._final_committed:
                break
            try:
                self._flush(final_status=status)
                break
            except Exception as exc:  # noqa: BLE001 - kept, retried, then raised below
                last = exc
                time.sleep(0.1 * (attempt + 1))
        else:
            raise FlushError(
                f"{self.path}: the last {self.unwritten_rows()} rows of run {self.run_id} could not be written "
                f"after {FINISH_ATTEMPTS} tries ({last}); they are still in memory: call finish() again"
            ) from last
        self.status = status
        _unfinished.discard(self)
        self._pool.clear()
        keep_writer_host(self._host)
        if self.index_on_finish:
            self._index()
        if self.dropped_rows:
            raise FlushError(
                f"{self.path}: run {self.run_id} finished, but {self.dropped_rows} recorded rows were dropped "
                f"because their columns could not be converted: {self.drop_error}"
            ) from self.drop_error

    def unwritten_rows(self) -> int:
        """Rows recorded and not yet committed to the file (buffered or kept from a failed flush)."""
        return self.pending_rows() + sum(piece.rows for piece in self._unwritten)

    def __enter__(self) -> DuckDBRecorder:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        if exc_type is None:
            self.finish("complete")
            return
        try:
            self.finish("crashed")
        except FlushError as flush_error:  # the original exception matters more: log, let it propagate
            log.error("memscope: %s", flush_error)

    def _index(self) -> None:
        """Pre-aggregate this finished run (its rows and status are committed; this adds derived tables only).

        Holds the file's process lock, as a flush does, so no recorder of this process attaches the
        file meanwhile. Any failure leaves the run un-indexed and is logged, never raised.
        """
        try:
            with path_lock(self.path):
                index_runs(self.path, [self.run_id], timeout=self.lock_timeout)
        except Exception as exc:  # noqa: BLE001 - indexing is an optimisation; the run is already safe
            log.warning("memscope: run %s in %s finished but was not indexed (queries read the raw tables): %s",
                        self.run_id, self.path, exc)
            return
        self.indexed = True

    # -- flushing ------------------------------------------------------------------------
    def _flush_loop(self) -> None:
        period = min(self.flush_interval, HEARTBEAT_PERIOD_S)
        while True:
            self._wake.wait(period)
            self._wake.clear()
            if self._closing.is_set():
                return
            try:
                self._flush()
            except Exception as exc:  # noqa: BLE001 - kept for the next interval; finish() raises
                if self.failures == WARN_AFTER_FAILURES:
                    log.warning("memscope: %d flushes of %s failed in a row, data kept: %s", self.failures, self.path, exc)

    def _flush(self, final_status: str | None = None) -> None:
        """Commit the buffer (:meth:`_commit`) in one hold of the file. When finish() is waiting for
        this background flush, what was recorded meanwhile is committed with the final status in the
        same hold (:attr:`_final_status`), which spares releasing and taking the file again (~5-9 ms)."""
        with self._flush_lock:
            committed: list[int] = []
            self._take_buffer()
            try:
                with self._holding_file() as con:
                    self._commit(con, final_status)
                    committed.append(self.flushed_rows)
                    if final_status is None and self._closing.is_set():
                        self._take_buffer()
                        self._commit(con, self._final_status)
                        committed.append(self.flushed_rows)
                        self._final_committed = True
            except Exception as exc:
                self.failures += 1
                self.error = exc
                raise
            finally:
                for rows in committed:  # the file is released: on_flush may read it
                    if self.on_flush is not None:
                        self.on_flush(rows)

    def _take_buffer(self) -> None:
        """Move the buffer to the rows to write (kept there until committed; waiting calls go on)."""
        self._unwritten += slices(self.take())
        with self._drained:
            self._drained.notify_all()

    def _commit(self, con: duckdb.DuckDBPyConnection, final_status: str | None) -> None:
        """In ONE transaction append every table of the rows taken (one statement each, slices built as
        DuckDB pulls them: :mod:`tracing.flushing`), register new streams, and write the heartbeat and
        ``final_status``."""
        now = utc_now()

        def work(con: duckdb.DuckDBPyConnection) -> None:
            self._stream_map.begin(next_stream_id(con))
            for table in dict.fromkeys(piece.table for piece in self._unwritten):
                self._append_table(con, table, [piece for piece in self._unwritten if piece.table == table])
            if final_status is None:
                con.execute("UPDATE runs SET heartbeat = ? WHERE run_id = ?", [now, self.run_id])
            else:
                con.execute(
                    "UPDATE runs SET heartbeat = ?, finished = ?, status = ? WHERE run_id = ?",
                    [now, now, final_status, self.run_id],
                )

        _in_transaction(con, work)
        self._stream_map.commit()
        self.flushed_rows += sum(piece.rows for piece in self._unwritten)
        self._unwritten = []
        self.failures = 0
        self.error = None

    def _append_table(self, con: duckdb.DuckDBPyConnection, table: str, pieces: list[Slice]) -> None:
        """Append the slices of one table with ONE statement reading a batch reader that builds each
        slice when DuckDB pulls it (see :mod:`tracing.flushing`), then register the streams it met."""
        new_streams: list[tuple[int, str, str, int, int]] = []
        if table in STREAM_TABLES:
            physical = STREAM_TABLES[table]
            reader = pa.RecordBatchReader.from_batches(STREAM_SCHEMAS[physical], self._batches(pieces, new_streams))
            append_lean(con, physical, reader)
            register_streams(con, new_streams)
        else:
            reader = pa.RecordBatchReader.from_batches(logical_schema(table), self._batches(pieces, new_streams))
            append_logical(con, table, reader, self.run_id)

    def _batches(self, pieces: list[Slice], new_streams: list[tuple[int, str, str, int, int]]) -> Iterator[pa.RecordBatch]:
        """Each slice's Arrow batches, built when pulled (on the DuckDB thread that pulls them) into
        buffers lent by the pool until DuckDB releases them (:mod:`tracing.buffers`), stream ids mapped
        to the file's and new streams collected. A slice keeps its rows until the flush commits (a
        failed flush builds it again). A slice whose columns cannot be converted is dropped (not
        retried: the same columns would fail again) and reported by flush()/finish()."""
        for piece in pieces:
            buffers = self._pool.take(STREAM_TABLES[piece.table], piece.rows) if piece.table in STREAM_TABLES else None
            try:
                data = self.build(piece.table, piece.chunks, buffers)
            except Exception as exc:  # noqa: BLE001 - counted, reported by flush()/finish()
                self._unwritten.remove(piece)
                self.dropped_rows += piece.rows
                self.drop_error = exc
                continue
            finally:
                if buffers is not None:
                    buffers.seal()
            if piece.table in STREAM_TABLES:
                data, rows = self._stream_map.to_file(data)
                new_streams += rows
            yield from data.to_batches()

    def _create_run(self, work: Callable[[duckdb.DuckDBPyConnection], None]) -> None:
        """Take the file, creating or validating (and migrating) the trace, run ``work`` in one
        transaction, release the file."""
        with self._holding_file(create=True) as con:
            _in_transaction(con, work)

    @contextmanager
    def _holding_file(self, create: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """The file ATTACHed to this writer's kept in-memory DuckDB (waiting out other holders; ~1-4 ms,
        against ~20-100 ms for a ``connect``, which builds a whole database instance:
        :func:`tracing.connection.attach_trace`), DETACHed on exit, which checkpoints and releases
        the lock. ``create``: the recorder's first hold, which creates or validates the trace; later
        holds trust it. Errors of the DETACH are logged, never raised: what was committed is in the
        file and must not be written twice."""
        with path_lock(self.path):
            if not create and not self.path.is_file():  # ATTACH would silently create an empty database
                raise FileNotFoundError(f"{self.path}: the trace file is gone; the run cannot be written")
            attach_trace(self._host, self.path, _ATTACHED, create=create, validate=create, timeout=self.lock_timeout)
            try:
                yield self._host
            finally:
                if not _release(self._detach, self.path):
                    self._host.close()  # drops the attachment and its lock; start afresh
                    self._host = take_writer_host()

    def _detach(self) -> None:
        detach_trace(self._host, _ATTACHED)


def _in_transaction(con: duckdb.DuckDBPyConnection, work: Callable[[duckdb.DuckDBPyConnection], None]) -> None:
    con.execute("BEGIN TRANSACTION")
    try:
        work(con)
        con.execute("COMMIT")
    except BaseException:
        _rollback(con)
        raise


def _release(release: Callable[[], None], path: Path) -> bool:
    """Close or detach the file; a failure is logged (the transaction already ended), returns False."""
    try:
        release()
    except duckdb.Error as exc:
        log.error("memscope: releasing %s failed: %s", path, exc)
        return False
    return True


def _insert_run(con: duckdb.DuckDBPyConnection, row: dict[str, Any]) -> None:
    """Mark the file's dead runs crashed, then add this run's ``runs`` row (all values bound)."""
    mark_crashed(con)
    columns = list(row)
    con.execute(
        f"INSERT INTO runs ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})",
        [row[column] for column in columns],
    )


def _rollback(con: duckdb.DuckDBPyConnection) -> None:
    try:
        con.execute("ROLLBACK")
    except duckdb.Error:  # no transaction left to roll back (a failed COMMIT already ended it)
        pass


@atexit.register
def _finish_abandoned() -> None:
    """At interpreter exit, write what unfinished recorders still buffer and mark their runs crashed.

    Only recorders created by this process: a forked child that exits must not end its parent's run.
    """
    for recorder in [r for r in _unfinished if r.writer_pid == os.getpid()]:
        try:
            recorder.finish("crashed")
        except Exception as exc:  # noqa: BLE001 - exiting: report, never raise
            log.error("memscope: could not finish run %s in %s at exit: %s", recorder.run_id, recorder.path, exc)
