"""memscope's trace layer: record what memories do into DuckDB, and read it back.

- :mod:`tracing.schema`: tables, ops, schema version.
- :mod:`tracing.recorder`: the recorder protocol the engine calls (``NULL_RECORDER``, ``MemoryRecorder``).
- :mod:`tracing.writer`: ``DuckDBRecorder``, appending a run to a trace file in the background.
- :mod:`tracing.connection`: ``open_trace`` (lock retry, validation, creation, migration).
- :mod:`tracing.store`: ``TraceStore``, the read-only queries behind every view (SQL in ``tracing/queries/``).
- :mod:`tracing.parquet`: export runs to hive-partitioned Parquet and import them back.
- :mod:`tracing.folders`: listing traces in, and confining paths to, a user-chosen folder.

Nothing is imported here, so ``import tracing.recorder`` stays light (no DuckDB, no pandas).
"""
