-- Event rows at one step or in [start, stop), optionally of one op, at most $limit rows.
SELECT step, batch, memory, layer, head, cell, op, weight, gate, other_cell
FROM memory_events
WHERE run_id = $run_id
  AND ($step IS NULL OR step = $step)
  AND ($start IS NULL OR step >= $start)
  AND ($stop IS NULL OR step < $stop)
  AND ($op IS NULL OR op = $op)
ORDER BY step, batch, memory, layer, head, cell, op
LIMIT $limit
