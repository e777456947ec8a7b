-- Mean of one cell_states column (age, usage or norm, chosen by $value) per cell_bin x step_bin bin.
SELECT
    $cell_lo + (cell - $cell_lo) // $cell_bin * $cell_bin AS cell,
    $step_lo + (step - $step_lo) // $step_bin * $step_bin AS step,
    avg(CASE $value WHEN 'age' THEN age WHEN 'usage' THEN usage WHEN 'norm' THEN norm END) AS value
FROM cell_states
WHERE run_id = $run_id
  AND ($memory IS NULL OR memory = $memory)
  AND ($layer IS NULL OR layer = $layer)
  AND ($head IS NULL OR head = $head)
  AND ($batch IS NULL OR batch = $batch)
GROUP BY ALL
ORDER BY cell, step
