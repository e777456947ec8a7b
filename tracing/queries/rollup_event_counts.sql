-- Events per step, batch row, memory and op of one run, for memscope_event_counts.
INSERT INTO memscope_event_counts
SELECT run_id, step, batch, memory, op, count(*) AS n
FROM memory_events
WHERE run_id = $run_id
GROUP BY ALL
ORDER BY step, batch, memory, op
