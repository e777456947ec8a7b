"""The read side: :class:`TraceStore` answers each view's question with one SQL query.

A store never holds the file: every method attaches it read-only for its queries and detaches it
(waiting out a writer's flush, see :func:`tracing.connection.read_trace`), so a run that another
process is still writing can be watched. Every query lives in ``tracing/queries/<name>.sql`` and
takes its inputs as bound parameters; nothing the user types becomes SQL text. The queries read the
physical per-stream tables (``stream_events``, ``stream_states``, ``streams``; see
:mod:`tracing.schema`): filters on run, memory, layer and head pick stream ids from the small
``streams`` table first, ops are compared as their integer codes, and the answers carry the logical
columns (memory, layer, head, op as text, BIGINT steps and cells).
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from tracing.connection import is_damage, open_trace, read_trace, schema_version_of
from tracing.errors import NotATraceError, TraceError, UnknownRunError
from tracing.lifecycles import lifecycles_table
from tracing.liveness import effective_status, utc_now
from tracing.queries import sql
from tracing.schema import DEATH_OPS, OPS, ROLLUP_TABLES, op_code

STATE_VALUES: tuple[str, ...] = ("age", "usage", "norm")
"""Heatmap values read from ``cell_states`` (mean per bin); any op in OPS reads ``memory_events``."""

WHATIF_COLUMNS: tuple[str, ...] = ("entropy", "kl", "surprisal")
"""``steps`` columns a what-if threshold can be put on."""

MIN_STEP_BINS = 500
"""A heatmap keeps at least this many step bins (when the run has that many steps) before it
bins cells: time resolution matters more than cell resolution for wide memories."""

_MARK_CODES = {"write_code": op_code("write"), "death_codes": [op_code(op) for op in DEATH_OPS]}
"""Op codes of the lifecycle marks (tracing/queries/lifecycle_marks.sql)."""

RUN_COLUMNS: tuple[str, ...] = (
    "run_id", "name", "created", "finished", "status", "family", "model", "input", "device", "config",
    "n_steps", "n_events", "n_moments",
)


@dataclass(frozen=True)
class HeatmapResult:
    """A cells x steps heatmap aggregated in SQL.

    ``frame`` has one row per non-empty bin: ``cell`` and ``step`` (the first cell and step of the
    bin) and ``value``. Each bin covers ``cell_bin`` cells x ``step_bin`` steps; ``n_cells`` and
    ``n_steps`` are the full ranges (max - min + 1). ``sampled`` is True when the picture is not one
    pixel per cell and step: bins larger than 1, or cell states recorded with sampling.
    """

    frame: pd.DataFrame
    cell_bin: int
    step_bin: int
    n_cells: int
    n_steps: int
    sampled: bool


def heatmap_bins(n_cells: int, n_steps: int, max_cells: int) -> tuple[int, int]:
    """``(cell_bin, step_bin)`` so that ``ceil(n_cells/cell_bin) * ceil(n_steps/step_bin) <= max_cells``.

    Steps are binned first; cells are binned only when even ``MIN_STEP_BINS`` step bins leave too
    little room for one row per cell.
    """
    if max_cells < 1:
        raise ValueError(f"max_cells must be at least 1, got {max_cells}")
    if n_cells * n_steps <= max_cells:
        return 1, 1
    cell_room = max(1, max_cells // min(n_steps, MIN_STEP_BINS))
    cell_bin = 1 if n_cells <= cell_room else math.ceil(n_cells / cell_room)
    cell_rows = math.ceil(n_cells / cell_bin)
    step_bin = math.ceil(n_steps / max(1, max_cells // cell_rows))
    return cell_bin, step_bin


class TraceStore:
    """Read-only queries on one trace file; each returns a pandas DataFrame (see ARCHITECTURE.md)."""

    def __init__(self, path: str | Path, *, timeout: float = 5.0) -> None:
        self.path = Path(path)
        self.timeout = timeout
        with self._connect(validate=True):  # a bad file fails here, with its one-line reason
            pass

    # -- connection ------------------------------------------------------------------------------
    @contextmanager
    def _connect(self, validate: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection for one call's queries (the file was validated when the store was made)."""
        with read_trace(self.path, timeout=self.timeout, validate=validate) as con:
            try:
                yield con
            except duckdb.Error as exc:  # a damaged block shows only when a query reads it
                if not is_damage(exc):
                    raise
                raise NotATraceError(f"{self.path} is damaged ({' '.join(str(exc).split())}); re-record or re-import it") from None

    def _query(self, name: str, params: dict[str, Any], *, run_id: str | None = None) -> pd.DataFrame:
        with self._connect() as con:
            if run_id is not None:
                self._require_run(con, run_id)
            return _frame(con, name, params)

    def _require_run(self, con: duckdb.DuckDBPyConnection, run_id: str) -> None:
        (count,) = con.execute(sql("run_exists"), {"run_id": run_id}).fetchall()[0]
        if count == 0:
            raise UnknownRunError(f"no run {run_id!r} in {self.path}; `memscope runs {self.path}` lists the runs")

    # -- queries ---------------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        """``{path, schema_version, size_bytes, tables: {name: rows}, indexed_runs: int}``."""
        with self._connect() as con:
            version = schema_version_of(con)
            rows = con.execute(sql("table_rows")).fetchall()
            indexed = con.execute(sql("rollup_count")).fetchall()[0][0] if _has_rollup_tables(con) else 0
        return {
            "path": str(self.path),
            "schema_version": version,
            "size_bytes": self.path.stat().st_size,
            "tables": {name: int(n) for name, n in rows},
            "indexed_runs": int(indexed),
        }

    def runs(self, *, now: dt.datetime | None = None) -> pd.DataFrame:
        """One row per run: RUN_COLUMNS, where ``status`` is derived (a dead writer's run is ``crashed``).

        ``now`` (naive UTC, default: the current time) is when a heartbeat is judged stale."""
        with self._connect() as con:
            frame = _frame(con, "runs", {})
        frame["status"] = [
            _effective_status(row, now) for row in frame[["stored_status", "writer_pid", "writer_host", "heartbeat"]].itertuples(index=False)
        ]
        for column in ("n_steps", "n_events", "n_moments"):
            frame[column] = frame[column].astype("int64")
        return frame[list(RUN_COLUMNS)]

    def heatmap(
        self,
        run_id: str,
        value: str = "write",
        memory: str | None = None,
        layer: int | None = None,
        head: int | None = None,
        batch: int | None = None,
        max_cells: int = 250_000,
        agg: str = "count",
    ) -> HeatmapResult:
        """Cells x steps of one op (count of events, or sum of weights with ``agg="weight"``) or of a
        cell state (``age``, ``usage``, ``norm``: mean per bin), at most ``max_cells`` bins."""
        if value not in OPS and value not in STATE_VALUES:
            raise ValueError(f"unknown heatmap value {value!r}; use an op ({', '.join(OPS)}) or one of {', '.join(STATE_VALUES)}")
        if agg not in ("count", "weight"):
            raise ValueError(f"unknown heatmap aggregation {agg!r}; use 'count' or 'weight'")
        states = value in STATE_VALUES
        filters = {"run_id": run_id, "memory": memory, "layer": layer, "head": head, "batch": batch}
        with self._connect() as con:
            self._require_run(con, run_id)
            filters.update(stream_params(con, run_id, memory, layer, head))
            indexed = _indexed(con, run_id)
            if indexed:
                source = "cell_states" if states else "memory_events"
                extent = _rows(con, "heatmap_extent_rollup", dict(filters, source=source))[0]
            else:
                extent = _rows(con, "heatmap_state_extent" if states else "heatmap_event_extent", filters)[0]
            sampling = con.execute(sql("run_sampling"), {"run_id": run_id}).fetchall()[0][0]
            if extent[0] is None:
                return HeatmapResult(pd.DataFrame({"cell": [], "step": [], "value": []}), 1, 1, 0, 0, False)
            cell_lo, cell_hi, step_lo, step_hi = (int(v) for v in extent)
            n_cells, n_steps = cell_hi - cell_lo + 1, step_hi - step_lo + 1
            cell_bin, step_bin = heatmap_bins(n_cells, n_steps, max_cells)
            params = dict(filters, cell_lo=cell_lo, cell_bin=cell_bin, step_lo=step_lo, step_bin=step_bin,
                          n_step_bins=math.ceil(n_steps / step_bin))
            if states:
                frame = _frame(con, "heatmap_states", dict(params, value=value))
            else:
                query = "heatmap_events" if agg == "count" else "heatmap_event_weights"
                whole = layer is None and head is None and batch is None  # every stream of the memories
                if whole and indexed and _has_cell_steps(con, run_id):
                    query += "_rollup"  # the same bins from the events per cell and step
                frame = _frame(con, query, dict(params, op=op_code(value)))
        sampled = cell_bin > 1 or step_bin > 1 or (states and bool(sampling))
        frame = frame.astype({"cell": "int64", "step": "int64"})
        return HeatmapResult(frame, cell_bin, step_bin, n_cells, n_steps, sampled)

    def lifecycles(self, run_id: str, memory: str | None = None) -> pd.DataFrame:
        """batch, memory, layer, head, cell, born, died, duration, observed, cause, write_weight, write_gate.

        Read from the pre-aggregated table when the run was indexed (:func:`index_runs`), else
        computed from the events (:mod:`tracing.lifecycles`)."""
        with self._connect() as con:
            self._require_run(con, run_id)
            if _indexed(con, run_id):
                return _string_heavy_frame(con, "lifecycles_rollup", {"run_id": run_id, "memory": memory})
            return _raw_lifecycles(con, run_id, memory).to_pandas()

    def timeline(self, run_id: str, batch: int = 0, start: int | None = None, stop: int | None = None) -> pd.DataFrame:
        """Steps rows of one batch row for steps in ``[start, stop)``."""
        return self._query("timeline", {"run_id": run_id, "batch": batch, "start": start, "stop": stop}, run_id=run_id)

    def event_counts(self, run_id: str, batch: int | None = None, start: int | None = None, stop: int | None = None) -> pd.DataFrame:
        """step, memory, op, n: events per step in ``[start, stop)`` (pre-aggregated when indexed)."""
        params = {"run_id": run_id, "batch": batch, "start": start, "stop": stop}
        with self._connect() as con:
            self._require_run(con, run_id)
            if _indexed(con, run_id):
                return _string_heavy_frame(con, "event_counts_rollup", params)
            return _string_heavy_frame(con, "event_counts", dict(params, **stream_params(con, run_id)))

    def events(
        self,
        run_id: str,
        step: int | None = None,
        start: int | None = None,
        stop: int | None = None,
        op: str | None = None,
        limit: int = 10_000,
    ) -> pd.DataFrame:
        """memory_events rows at ``step`` or in ``[start, stop)``, at most ``limit``."""
        params = {"run_id": run_id, "step": step, "start": start, "stop": stop, "op": op, "limit": limit}
        return self._query("events", params, run_id=run_id)

    def signatures(self, run_id: str, memory: str | None = None, limit: int | None = None) -> pd.DataFrame:
        """moments rows (the signatures behind the projection view)."""
        return self._query("signatures", {"run_id": run_id, "memory": memory, "limit": limit}, run_id=run_id)

    def metrics(self, run_id: str, name: str | None = None) -> pd.DataFrame:
        """metrics rows: step, name, value, x, series."""
        return self._query("metrics", {"run_id": run_id, "name": name}, run_id=run_id)

    def whatif(self, run_id: str, column: str, threshold: float, batch: int = 0) -> pd.DataFrame:
        """step, token_id, token_text, value: the steps whose ``column`` exceeds ``threshold``, i.e.
        the moments that threshold would have stored (``len()`` is the count)."""
        if column not in WHATIF_COLUMNS:
            raise ValueError(f"unknown what-if column {column!r}; use one of {', '.join(WHATIF_COLUMNS)}")
        params = {"run_id": run_id, "column": column, "threshold": float(threshold), "batch": batch}
        return self._query("whatif", params, run_id=run_id)


def stream_params(
    con: duckdb.DuckDBPyConnection, run_id: str, memory: str | None = None, layer: int | None = None, head: int | None = None
) -> dict[str, Any]:
    """The stream ids of a run under the filters, as the event queries take them: ``stream_lo`` and
    ``stream_hi`` (a range DuckDB filters on while it scans), ``contiguous`` (every id of the range is
    chosen) and ``streams`` (the ids, for a range with gaps); ``memories`` (sorted names) and
    ``memory_codes`` (1-based position in ``memories`` of stream ``stream_lo + i``, NULL in gaps)."""
    rows = _rows(con, "run_streams", {"run_id": run_id, "memory": memory, "layer": layer, "head": head})
    if not rows:  # no stream: an empty range
        return {"stream_lo": None, "stream_hi": None, "contiguous": True, "streams": [-1], "memories": [""], "memory_codes": [0]}
    ids = [stream for stream, _ in rows]
    low, high = ids[0], ids[-1]
    memories = sorted({name for _, name in rows})
    codes: list[int | None] = [None] * (high - low + 1)
    for stream, name in rows:
        codes[stream - low] = memories.index(name) + 1
    return {"stream_lo": low, "stream_hi": high, "contiguous": high - low + 1 == len(ids), "streams": ids,
            "memories": memories, "memory_codes": codes}


def _raw_lifecycles(con: duckdb.DuckDBPyConnection, run_id: str, memory: str | None) -> pa.Table:
    """The lifecycles of a run's streams (of ``memory``, or all) from its events: the marks that
    lifecycle_marks.sql selects, paired by :func:`tracing.lifecycles.lifecycles_table`."""
    every_stream = stream_params(con, run_id)
    (last_step,) = _rows(con, "run_last_step", dict(every_stream, run_id=run_id))[0]
    chosen = every_stream if memory is None else stream_params(con, run_id, memory)
    params = _bound("lifecycle_marks", dict(_MARK_CODES, **chosen))
    marks = con.sql(sql("lifecycle_marks"), params=params).to_arrow_table()
    return lifecycles_table(marks, _rows(con, "lifecycle_streams", {"run_id": run_id, "memory": memory}), int(last_step))


@functools.cache
def _parameters(name: str) -> frozenset[str]:
    """The ``$names`` query ``name`` binds (DuckDB refuses unused parameters)."""
    return frozenset(re.findall(r"\$(\w+)", sql(name)))


def _bound(name: str, params: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in params.items() if key in _parameters(name)}


def _rows(con: duckdb.DuckDBPyConnection, name: str, params: dict[str, Any]) -> list[tuple]:
    return con.execute(sql(name), _bound(name, params)).fetchall()


def _frame(con: duckdb.DuckDBPyConnection, name: str, params: dict[str, Any]) -> pd.DataFrame:
    """Run query ``name`` with bound ``params`` into a DataFrame (nullable integers stay ``Int64``)."""
    return con.execute(sql(name), _bound(name, params)).df()


def _string_heavy_frame(con: duckdb.DuckDBPyConnection, name: str, params: dict[str, Any]) -> pd.DataFrame:
    """The same through Arrow, for large results whose string columns repeat a few values (memory,
    op, cause): pyarrow makes one Python string per distinct value, about half the CPU of
    ``.df()``. Only for queries without nullable integer columns (Arrow turns those into floats)."""
    return con.sql(sql(name), params=_bound(name, params)).to_arrow_table().to_pandas()


def _has_rollup_tables(con: duckdb.DuckDBPyConnection, table: str = "memscope_rollups") -> bool:
    return con.execute(sql("rollup_tables_present"), {"table": table}).fetchall()[0][0] > 0


def _indexed(con: duckdb.DuckDBPyConnection, run_id: str) -> bool:
    """True when ``memscope index`` pre-aggregated this run (see :func:`index_runs`)."""
    return _has_rollup_tables(con) and con.execute(sql("rollup_has_run"), {"run_id": run_id}).fetchall()[0][0] > 0


def _has_cell_steps(con: duckdb.DuckDBPyConnection, run_id: str) -> bool:
    """True when ``memscope_cell_steps`` holds the run's events per cell and step (indexed by a
    version that builds it; older indexes lack it and their heatmaps read the events)."""
    return (
        _has_rollup_tables(con, "memscope_cell_steps")
        and con.execute(sql("rollup_has_cell_steps"), {"run_id": run_id}).fetchall()[0][0] > 0
    )


def index_runs(
    path: str | Path,
    run_ids: list[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
    *,
    timeout: float = 5.0,
) -> list[str]:
    """Pre-aggregate the lifecycles, per-step event counts, heatmap extents and events per cell and
    step (``memscope_cell_steps``, for heatmaps over whole memories) of finished runs.

    Whole-run lifecycles and event counts scan and sort millions of events, and every heatmap
    scans them once for its axes; once indexed, a run answers these from small tables (same
    frames, checked by the tests). Only runs whose stored status says their writer has
    finished (``complete`` or ``crashed`` in the file, not merely a stale heartbeat) are indexed:
    their rows never change. ``run_ids``
    ``None`` indexes every finished run; naming a running one is an error. Re-indexing rebuilds.
    This WRITES to the file (it is the ``memscope index`` command); reading never does.
    Returns the indexed run ids; ``progress(done, total)`` is called after each run. ``timeout``
    (s) is how long to wait out another process holding the file.
    """
    path = Path(path)
    store = TraceStore(path, timeout=timeout)
    with store._connect() as con:
        stored = dict(con.execute(sql("run_statuses")).fetchall())
    if run_ids is None:
        chosen = [run_id for run_id, state in stored.items() if state != "running"]
    else:
        chosen = list(dict.fromkeys(run_ids))
        for run_id in chosen:
            if run_id not in stored:
                raise UnknownRunError(f"no run {run_id!r} in {path}; `memscope runs {path}` lists the runs")
            if stored[run_id] == "running":
                raise TraceError(
                    f"run {run_id!r} is still marked running (being written, or its writer died and no writer "
                    "has marked it crashed yet); index it when it has finished"
                )
    con = open_trace(path, read_only=False, timeout=timeout)
    try:
        con.execute(sql("rollup_tables"))
        for done, run_id in enumerate(chosen, start=1):
            con.execute("BEGIN TRANSACTION")
            try:
                for table in ROLLUP_TABLES:  # schema constants, the run id is bound
                    con.execute(f"DELETE FROM {table} WHERE run_id = $run_id", {"run_id": run_id})
                con.register("memscope_new_lifecycles", _raw_lifecycles(con, run_id, None))
                try:
                    con.execute("INSERT INTO memscope_lifecycles SELECT $run_id AS run_id, * FROM memscope_new_lifecycles",
                                {"run_id": run_id})
                finally:
                    con.unregister("memscope_new_lifecycles")
                params = dict(stream_params(con, run_id), run_id=run_id, built=utc_now())
                for query in ("rollup_event_counts", "rollup_extents", "rollup_cell_steps", "rollup_register"):
                    _rows(con, query, params)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            if progress:
                progress(done, len(chosen))
    finally:
        con.close()
    return chosen


def _effective_status(row: Any, now: dt.datetime | None) -> str:
    """The stored status, or ``crashed`` for a ``running`` run whose writer is gone (tracing.liveness)."""
    heartbeat = None if pd.isna(row.heartbeat) else pd.Timestamp(row.heartbeat).to_pydatetime()
    pid = None if pd.isna(row.writer_pid) else int(row.writer_pid)
    host = None if pd.isna(row.writer_host) else row.writer_host
    return effective_status(row.stored_status, pid, host, heartbeat, now or utc_now())
