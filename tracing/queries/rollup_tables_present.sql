-- 1 when the trace has the derived table $table of `memscope index` (memscope_rollups: indexing ever
-- ran; memscope_cell_steps: it ran with a version that builds that table), else 0.
SELECT count(*)
FROM duckdb_tables()
WHERE database_name = current_database() AND schema_name = 'main' AND table_name = $table
