-- heatmap_events.sql's answer for an indexed run when no layer, head or batch row is chosen: the
-- same bins, counted from the pre-aggregated memscope_cell_steps (one row per cell and step).
SELECT
    $cell_lo + (bin // $n_step_bins) * $cell_bin AS cell,
    $step_lo + (bin % $n_step_bins) * $step_bin AS step,
    n AS value
FROM (
    SELECT ((cell - $cell_lo) // $cell_bin) * $n_step_bins + (step - $step_lo) // $step_bin AS bin,
           CAST(sum(n) AS BIGINT) AS n
    FROM memscope_cell_steps
    WHERE run_id = $run_id AND op = $op AND ($memory IS NULL OR memory = $memory)
    GROUP BY bin
)
ORDER BY cell, step
