-- heatmap_event_weights.sql's answer for an indexed run when no layer, head or batch row is chosen:
-- the same bins, summed from the per-cell-and-step weight sums of memscope_cell_steps (NULL where
-- every weight is NULL, as the raw sum).
SELECT
    $cell_lo + (bin // $n_step_bins) * $cell_bin AS cell,
    $step_lo + (bin % $n_step_bins) * $step_bin AS step,
    total AS value
FROM (
    SELECT ((cell - $cell_lo) // $cell_bin) * $n_step_bins + (step - $step_lo) // $step_bin AS bin, sum(weight) AS total
    FROM memscope_cell_steps
    WHERE run_id = $run_id AND op = $op AND ($memory IS NULL OR memory = $memory)
    GROUP BY bin
)
ORDER BY cell, step
