-- 1 when `memscope index` has added its pre-aggregated tables to this trace, else 0.
SELECT count(*)
FROM duckdb_tables()
WHERE database_name = current_database() AND schema_name = 'main' AND table_name = 'memscope_rollups'
