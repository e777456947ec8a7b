-- Count of one op's events per cell_bin x step_bin rectangle (bin = its first cell and step).
-- Grouped on one integer bin key (cell bin * n_step_bins + step bin): one hash key, not two.
-- $op is the op's code (its index in OPS); the streams of the run under the filters are picked first.
SELECT
    $cell_lo + (bin // $n_step_bins) * $cell_bin AS cell,
    $step_lo + (bin % $n_step_bins) * $step_bin AS step,
    n AS value
FROM (
    SELECT ((cell - $cell_lo) // $cell_bin) * $n_step_bins + (step - $step_lo) // $step_bin AS bin, count(*) AS n
    FROM stream_events
    WHERE stream IN (
            SELECT stream FROM streams
            WHERE run_id = $run_id
              AND ($memory IS NULL OR memory = $memory)
              AND ($layer IS NULL OR layer = $layer)
              AND ($head IS NULL OR head = $head)
        )
      AND op = $op
      AND ($batch IS NULL OR batch = $batch)
    GROUP BY bin
)
ORDER BY cell, step
