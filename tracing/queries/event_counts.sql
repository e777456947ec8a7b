-- Number of events per step, memory and op, for steps in [start, stop).
SELECT step, memory, op, count(*) AS n
FROM memory_events
WHERE run_id = $run_id
  AND ($batch IS NULL OR batch = $batch)
  AND ($start IS NULL OR step >= $start)
  AND ($stop IS NULL OR step < $stop)
GROUP BY ALL
ORDER BY step, memory, op
