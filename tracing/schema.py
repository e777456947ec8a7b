"""The trace schema: one DuckDB file holds one or more runs of any memory family.

Every memory is a set of *cells* that are *written*, *read* and eventually *die*
(see DESIGN.md). The tables below carry that shared vocabulary:

- ``runs``: one row per run (who, what, where, status).
- ``steps``: one row per token or time step (distribution summary for language models).
- ``memory_events``: one row per memory operation on one cell (a VIEW, see below).
- ``cell_states``: age, usage and norm of a cell at the steps where they change, or sampled (a VIEW).
- ``moments``: stored signatures (moment memory) or stored write vectors (slot / fast weights),
  the points of the UMAP view.
- ``metrics``: named numbers and curves (training loss, accuracy vs distance, forgetting).
- ``memscope_meta``: key/value pairs, among them the schema version and the file's format tag.

A cell's identity is ``(run_id, batch, memory, layer, head, cell)``.

Physical layout (schema 2). The two high-volume tables are stored lean, in integers only:
``stream_events`` and ``stream_states`` carry a ``stream`` id instead of the repeated
``(run_id, memory, layer, head)``, whose values live once in the small ``streams`` table (one row
per stream a writer has seen), and ``stream_events.op`` is a TINYINT code (the op's index in
:data:`OPS`, spelled out by the ``ops`` table). ``memory_events`` and ``cell_states`` are VIEWs
that present the logical columns (op as text) in recording order, for ad-hoc SQL and Parquet
export; the store's own queries read the physical tables. Narrow integers bound what a trace can
hold (:data:`LIMITS`, checked when rows are recorded or imported, with a clear error).

Lifecycle convention (survival curves): content is born by ``write``; it dies at the next
``evict``, ``decay``, ``merge`` or ``prune`` on the same cell, or when a later ``write`` replaces
it (an *overwrite*); otherwise it is censored at the run's last step. ``update`` changes live
content in place (a residual or gated update) without ending its life; ``erase`` partially
erases content (its weight is the erase factor) without ending its life.
"""

from __future__ import annotations

import pyarrow as pa

SCHEMA_VERSION = 2
FORMAT_TAG = "memscope-trace"

OPS: tuple[str, ...] = (
    "write",
    "update",
    "read",
    "erase",
    "evict",
    "decay",
    "merge",
    "prune",
    "resonance",
)
"""Every memory operation. Index in this tuple = the op's code in ``stream_events.op`` and ``ops``."""

DEATH_OPS: tuple[str, ...] = ("evict", "decay", "merge", "prune")
"""Ops that end a cell's content; a ``write`` on live content is an overwrite, also a death."""

MEMORIES: tuple[str, ...] = ("slot", "fast_weight", "knn", "graph", "moment")
"""Known memory names (free text is allowed; these are what the engines emit)."""

RUN_STATUSES: tuple[str, ...] = ("running", "complete", "crashed")

TABLES: tuple[str, ...] = ("runs", "steps", "memory_events", "cell_states", "moments", "metrics")
"""The logical tables (``memory_events`` and ``cell_states`` are views): what is exported and imported."""

STREAM_TABLES: dict[str, str] = {"memory_events": "stream_events", "cell_states": "stream_states"}
"""Logical table -> the physical table that stores it per stream."""

LIMITS: dict[str, tuple[int, int]] = {
    "step": (-(2**31), 2**31 - 1),
    "cell": (-(2**31), 2**31 - 1),
    "other_cell": (-(2**31), 2**31 - 1),
    "batch": (-(2**15), 2**15 - 1),
    "layer": (-(2**15), 2**15 - 1),
    "head": (-(2**15), 2**15 - 1),
}
"""Inclusive value range of the integer columns of ``memory_events`` and ``cell_states`` (INTEGER
step and cells, SMALLINT batch row, layer and head): about 2.1 billion steps and cells, 32,767
batch rows, layers and heads. A value outside raises :class:`OutOfRangeError` when recorded."""


class OutOfRangeError(ValueError):
    """A recorded or imported value does not fit its column (see :data:`LIMITS`)."""


class UnknownOpError(ValueError):
    """An op that is not in :data:`OPS`."""


def op_code(op: str) -> int:
    """The TINYINT code of ``op`` (its index in :data:`OPS`); raises :class:`UnknownOpError`."""
    try:
        return _OP_CODES[op]
    except (KeyError, TypeError):
        raise UnknownOpError(f"unknown op {op!r}; use one of {', '.join(OPS)}") from None


_OP_CODES = {op: code for code, op in enumerate(OPS)}

DDL: dict[str, str] = {
    "memscope_meta": """
        CREATE TABLE IF NOT EXISTS memscope_meta (
            key VARCHAR PRIMARY KEY,
            value VARCHAR NOT NULL
        )""",
    "runs": """
        CREATE TABLE IF NOT EXISTS runs (
            run_id VARCHAR PRIMARY KEY,
            name VARCHAR,
            created TIMESTAMP NOT NULL,
            finished TIMESTAMP,
            heartbeat TIMESTAMP,
            status VARCHAR NOT NULL,
            family VARCHAR NOT NULL,
            model VARCHAR,
            config VARCHAR,
            input VARCHAR,
            device VARCHAR,
            versions VARCHAR,
            schema_version INTEGER NOT NULL,
            writer_pid INTEGER,
            writer_host VARCHAR,
            cell_state_sampling VARCHAR
        )""",
    "steps": """
        CREATE TABLE IF NOT EXISTS steps (
            run_id VARCHAR NOT NULL,
            step BIGINT NOT NULL,
            batch INTEGER NOT NULL,
            token_id BIGINT,
            token_text VARCHAR,
            surprisal FLOAT,
            entropy FLOAT,
            kl FLOAT,
            topk_ids INTEGER[],
            topk_probs FLOAT[]
        )""",
    "streams": """
        CREATE TABLE IF NOT EXISTS streams (
            stream INTEGER PRIMARY KEY,
            run_id VARCHAR NOT NULL,
            memory VARCHAR NOT NULL,
            layer SMALLINT NOT NULL,
            head SMALLINT NOT NULL,
            UNIQUE (run_id, memory, layer, head)
        )""",
    "ops": """
        CREATE TABLE IF NOT EXISTS ops (
            code TINYINT PRIMARY KEY,
            op VARCHAR NOT NULL UNIQUE
        )""",
    "stream_events": """
        CREATE TABLE IF NOT EXISTS stream_events (
            stream INTEGER NOT NULL,
            step INTEGER NOT NULL,
            batch SMALLINT NOT NULL,
            cell INTEGER NOT NULL,
            op TINYINT NOT NULL,
            weight FLOAT,
            gate FLOAT,
            other_cell INTEGER
        )""",
    "stream_states": """
        CREATE TABLE IF NOT EXISTS stream_states (
            stream INTEGER NOT NULL,
            step INTEGER NOT NULL,
            batch SMALLINT NOT NULL,
            cell INTEGER NOT NULL,
            age FLOAT,
            usage FLOAT,
            norm FLOAT
        )""",
    "memory_events": """
        CREATE VIEW IF NOT EXISTS memory_events AS
        SELECT s.run_id, CAST(e.step AS BIGINT) AS step, CAST(e.batch AS INTEGER) AS batch, s.memory,
               s.layer, s.head, CAST(e.cell AS BIGINT) AS cell, o.op, e.weight, e.gate,
               CAST(e.other_cell AS BIGINT) AS other_cell
        FROM stream_events AS e JOIN streams AS s USING (stream) JOIN ops AS o ON o.code = e.op
        ORDER BY e.rowid""",
    "cell_states": """
        CREATE VIEW IF NOT EXISTS cell_states AS
        SELECT s.run_id, CAST(e.step AS BIGINT) AS step, CAST(e.batch AS INTEGER) AS batch, s.memory,
               s.layer, s.head, CAST(e.cell AS BIGINT) AS cell, e.age, e.usage, e.norm
        FROM stream_states AS e JOIN streams AS s USING (stream)
        ORDER BY e.rowid""",
    "moments": """
        CREATE TABLE IF NOT EXISTS moments (
            run_id VARCHAR NOT NULL,
            moment_id BIGINT NOT NULL,
            step BIGINT NOT NULL,
            batch INTEGER NOT NULL,
            memory VARCHAR NOT NULL,
            layer SMALLINT NOT NULL,
            head SMALLINT NOT NULL,
            trigger VARCHAR,
            entropy FLOAT,
            kl FLOAT,
            surprisal FLOAT,
            topk_ids INTEGER[],
            topk_probs FLOAT[],
            context_hash VARCHAR,
            context_text VARCHAR,
            embedding FLOAT[]
        )""",
    "metrics": """
        CREATE TABLE IF NOT EXISTS metrics (
            run_id VARCHAR NOT NULL,
            step BIGINT,
            name VARCHAR NOT NULL,
            value DOUBLE NOT NULL,
            x DOUBLE,
            series VARCHAR
        )""",
}
"""CREATE statements, in creation order (tables, then the two views). ``moments.moment_id`` is the
cell of its memory. The views keep the v1 column types (BIGINT step and cells, INTEGER batch) and
list rows in the order they were recorded (``ORDER BY rowid`` of the physical table)."""

VIEWS: tuple[str, ...] = ("memory_events", "cell_states")
"""Names in :data:`DDL` that are views, not tables."""

OPS_ROWS: list[tuple[int, str]] = list(enumerate(OPS))
"""The rows of the ``ops`` table."""

ARROW_SCHEMAS: dict[str, pa.Schema] = {
    "steps": pa.schema(
        [
            ("run_id", pa.string()),
            ("step", pa.int64()),
            ("batch", pa.int32()),
            ("token_id", pa.int64()),
            ("token_text", pa.string()),
            ("surprisal", pa.float32()),
            ("entropy", pa.float32()),
            ("kl", pa.float32()),
            ("topk_ids", pa.list_(pa.int32())),
            ("topk_probs", pa.list_(pa.float32())),
        ]
    ),
    "memory_events": pa.schema(
        [
            ("run_id", pa.string()),
            ("step", pa.int64()),
            ("batch", pa.int32()),
            ("memory", pa.string()),
            ("layer", pa.int16()),
            ("head", pa.int16()),
            ("cell", pa.int64()),
            ("op", pa.string()),
            ("weight", pa.float32()),
            ("gate", pa.float32()),
            ("other_cell", pa.int64()),
        ]
    ),
    "cell_states": pa.schema(
        [
            ("run_id", pa.string()),
            ("step", pa.int64()),
            ("batch", pa.int32()),
            ("memory", pa.string()),
            ("layer", pa.int16()),
            ("head", pa.int16()),
            ("cell", pa.int64()),
            ("age", pa.float32()),
            ("usage", pa.float32()),
            ("norm", pa.float32()),
        ]
    ),
    "moments": pa.schema(
        [
            ("run_id", pa.string()),
            ("moment_id", pa.int64()),
            ("step", pa.int64()),
            ("batch", pa.int32()),
            ("memory", pa.string()),
            ("layer", pa.int16()),
            ("head", pa.int16()),
            ("trigger", pa.string()),
            ("entropy", pa.float32()),
            ("kl", pa.float32()),
            ("surprisal", pa.float32()),
            ("topk_ids", pa.list_(pa.int32())),
            ("topk_probs", pa.list_(pa.float32())),
            ("context_hash", pa.string()),
            ("context_text", pa.string()),
            ("embedding", pa.list_(pa.float32())),
        ]
    ),
    "metrics": pa.schema(
        [
            ("run_id", pa.string()),
            ("step", pa.int64()),
            ("name", pa.string()),
            ("value", pa.float64()),
            ("x", pa.float64()),
            ("series", pa.string()),
        ]
    ),
}
"""Logical Arrow layouts of the recorded tables: what :class:`tracing.recorder.MemoryRecorder` returns
and what Parquet exports hold (``runs`` is written row by row, once per run)."""


def logical_schema(table: str) -> pa.Schema:
    """``ARROW_SCHEMAS[table]`` without ``run_id`` (which an append supplies as one bound value)."""
    schema = ARROW_SCHEMAS[table]
    return schema.remove(schema.get_field_index("run_id"))


STREAM_SCHEMAS: dict[str, pa.Schema] = {
    "stream_events": pa.schema(
        [
            ("stream", pa.int32()),
            ("step", pa.int32()),
            ("batch", pa.int16()),
            ("cell", pa.int32()),
            ("op", pa.int8()),
            ("weight", pa.float32()),
            ("gate", pa.float32()),
            ("other_cell", pa.int32()),
        ]
    ),
    "stream_states": pa.schema(
        [
            ("stream", pa.int32()),
            ("step", pa.int32()),
            ("batch", pa.int16()),
            ("cell", pa.int32()),
            ("age", pa.float32()),
            ("usage", pa.float32()),
            ("norm", pa.float32()),
        ]
    ),
}
"""Arrow layouts of the physical per-stream tables, as the writer appends them (same column order
as their DDL)."""

ROLLUP_TABLES: tuple[str, ...] = (
    "memscope_lifecycles", "memscope_event_counts", "memscope_extents", "memscope_cell_steps", "memscope_rollups",
)
"""Derived tables of ``memscope index`` (:func:`tracing.store.index_runs`); rebuilt, never exported."""
