-- Row count of every memscope table (for `memscope info`).
SELECT 'runs' AS name, count(*) AS n FROM runs
UNION ALL SELECT 'steps', count(*) FROM steps
UNION ALL SELECT 'memory_events', count(*) FROM memory_events
UNION ALL SELECT 'cell_states', count(*) FROM cell_states
UNION ALL SELECT 'moments', count(*) FROM moments
UNION ALL SELECT 'metrics', count(*) FROM metrics
