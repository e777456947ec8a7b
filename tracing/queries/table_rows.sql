-- Row count of every memscope table (for `memscope info`); events and cell states counted in their
-- physical tables (the views hold the same rows).
SELECT 'runs' AS name, count(*) AS n FROM runs
UNION ALL SELECT 'steps', count(*) FROM steps
UNION ALL SELECT 'memory_events', count(*) FROM stream_events
UNION ALL SELECT 'cell_states', count(*) FROM stream_states
UNION ALL SELECT 'moments', count(*) FROM moments
UNION ALL SELECT 'metrics', count(*) FROM metrics
