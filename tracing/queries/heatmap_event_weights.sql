-- Sum of the weights of one op's events per cell_bin x step_bin rectangle (bin = its first cell and step).
-- Grouped on one integer bin key (cell bin * n_step_bins + step bin): one hash key, not two.
-- $op is the op's code (its index in OPS); the stream ids of the run under the memory, layer and head
-- filters come from run_streams.sql (a range, and the list when the range has gaps).
SELECT
    $cell_lo + (bin // $n_step_bins) * $cell_bin AS cell,
    $step_lo + (bin % $n_step_bins) * $step_bin AS step,
    total AS value
FROM (
    SELECT ((cell - $cell_lo) // $cell_bin) * $n_step_bins + (step - $step_lo) // $step_bin AS bin, sum(weight) AS total
    FROM stream_events
    WHERE stream BETWEEN $stream_lo AND $stream_hi AND ($contiguous OR list_contains($streams, stream))
      AND op = $op
      AND ($batch IS NULL OR batch = $batch)
    GROUP BY bin
)
ORDER BY cell, step
