-- Events of one op binned into cell_bin x step_bin rectangles (bin = its first cell and step).
-- n: number of events; weight: sum of their weights.
SELECT
    $cell_lo + (cell - $cell_lo) // $cell_bin * $cell_bin AS cell,
    $step_lo + (step - $step_lo) // $step_bin * $step_bin AS step,
    count(*) AS n,
    sum(weight) AS weight
FROM memory_events
WHERE run_id = $run_id
  AND op = $op
  AND ($memory IS NULL OR memory = $memory)
  AND ($layer IS NULL OR layer = $layer)
  AND ($head IS NULL OR head = $head)
  AND ($batch IS NULL OR batch = $batch)
GROUP BY ALL
ORDER BY cell, step
