-- Event rows at one step or in [start, stop), optionally of one op, at most $limit rows.
SELECT CAST(e.step AS BIGINT) AS step, CAST(e.batch AS INTEGER) AS batch, s.memory, s.layer, s.head,
       CAST(e.cell AS BIGINT) AS cell, o.op, e.weight, e.gate, CAST(e.other_cell AS BIGINT) AS other_cell
FROM stream_events AS e
JOIN streams AS s USING (stream)
JOIN ops AS o ON o.code = e.op
WHERE s.run_id = $run_id
  AND ($step IS NULL OR e.step = $step)
  AND ($start IS NULL OR e.step >= $start)
  AND ($stop IS NULL OR e.step < $stop)
  AND ($op IS NULL OR o.op = $op)
ORDER BY step, batch, memory, layer, head, cell, op
LIMIT $limit
