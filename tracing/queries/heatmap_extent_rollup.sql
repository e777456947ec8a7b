-- heatmap_event_extent.sql / heatmap_state_extent.sql's answer from memscope_extents ($source
-- names the table) for an indexed run.
SELECT min(cell_lo), max(cell_hi), min(step_lo), max(step_hi)
FROM memscope_extents
WHERE run_id = $run_id
  AND source = $source
  AND ($memory IS NULL OR memory = $memory)
  AND ($layer IS NULL OR layer = $layer)
  AND ($head IS NULL OR head = $head)
  AND ($batch IS NULL OR batch = $batch)
