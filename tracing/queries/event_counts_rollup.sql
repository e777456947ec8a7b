-- event_counts.sql's answer, summed from the pre-aggregated memscope_event_counts of an indexed run.
SELECT step, memory, op, CAST(sum(n) AS BIGINT) AS n
FROM memscope_event_counts
WHERE run_id = $run_id
  AND ($batch IS NULL OR batch = $batch)
  AND ($start IS NULL OR step >= $start)
  AND ($stop IS NULL OR step < $stop)
GROUP BY ALL
ORDER BY step, memory, op
