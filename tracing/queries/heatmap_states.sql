-- Mean of one cell_states column (age, usage or norm, chosen by $value) per cell_bin x step_bin
-- rectangle, grouped on one integer bin key as in heatmap_events.sql.
SELECT
    $cell_lo + (bin // $n_step_bins) * $cell_bin AS cell,
    $step_lo + (bin % $n_step_bins) * $step_bin AS step,
    value
FROM (
    SELECT
        ((cell - $cell_lo) // $cell_bin) * $n_step_bins + (step - $step_lo) // $step_bin AS bin,
        avg(CASE $value WHEN 'age' THEN age WHEN 'usage' THEN usage WHEN 'norm' THEN norm END) AS value
    FROM stream_states
    WHERE stream BETWEEN $stream_lo AND $stream_hi AND ($contiguous OR list_contains($streams, stream))
      AND ($batch IS NULL OR batch = $batch)
    GROUP BY bin
)
ORDER BY cell, step
