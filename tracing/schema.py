"""The trace schema: one DuckDB file holds one or more runs of any memory family.

Every memory is a set of *cells* that are *written*, *read* and eventually *die*
(see DESIGN.md). The tables below carry that shared vocabulary:

- ``runs``: one row per run (who, what, where, status).
- ``steps``: one row per token or time step (distribution summary for language models).
- ``memory_events``: one row per memory operation on one cell.
- ``cell_states``: age, usage and norm of a cell at the steps where they change (or sampled).
- ``moments``: stored signatures (moment memory) or stored write vectors (slot / fast weights),
  the points of the UMAP view.
- ``metrics``: named numbers and curves (training loss, accuracy vs distance, forgetting).
- ``memscope_meta``: key/value pairs, among them the schema version and the file's format tag.

A cell's identity is ``(run_id, batch, memory, layer, head, cell)``.

Lifecycle convention (survival curves): content is born by ``write``; it dies at the next
``evict``, ``decay``, ``merge`` or ``prune`` on the same cell, or when a later ``write`` replaces
it (an *overwrite*); otherwise it is censored at the run's last step. ``update`` changes live
content in place (a residual or gated update) without ending its life; ``erase`` partially
erases content (its weight is the erase factor) without ending its life.
"""

from __future__ import annotations

import pyarrow as pa

SCHEMA_VERSION = 1
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
"""Every memory operation. Index in this tuple = the op's code in the Arrow dictionary."""

DEATH_OPS: tuple[str, ...] = ("evict", "decay", "merge", "prune")
"""Ops that end a cell's content; a ``write`` on live content is an overwrite, also a death."""

MEMORIES: tuple[str, ...] = ("slot", "fast_weight", "knn", "graph", "moment")
"""Known memory names (free text is allowed; these are what the engines emit)."""

RUN_STATUSES: tuple[str, ...] = ("running", "complete", "crashed")

TABLES: tuple[str, ...] = ("runs", "steps", "memory_events", "cell_states", "moments", "metrics")

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
    "memory_events": """
        CREATE TABLE IF NOT EXISTS memory_events (
            run_id VARCHAR NOT NULL,
            step BIGINT NOT NULL,
            batch INTEGER NOT NULL,
            memory VARCHAR NOT NULL,
            layer SMALLINT NOT NULL,
            head SMALLINT NOT NULL,
            cell BIGINT NOT NULL,
            op VARCHAR NOT NULL,
            weight FLOAT,
            gate FLOAT,
            other_cell BIGINT
        )""",
    "cell_states": """
        CREATE TABLE IF NOT EXISTS cell_states (
            run_id VARCHAR NOT NULL,
            step BIGINT NOT NULL,
            batch INTEGER NOT NULL,
            memory VARCHAR NOT NULL,
            layer SMALLINT NOT NULL,
            head SMALLINT NOT NULL,
            cell BIGINT NOT NULL,
            age FLOAT,
            usage FLOAT,
            norm FLOAT
        )""",
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
"""CREATE statements, in creation order. ``moments.moment_id`` is the cell of its memory."""

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
"""Arrow layouts of the appended tables (``runs`` is written row by row, once per run)."""
