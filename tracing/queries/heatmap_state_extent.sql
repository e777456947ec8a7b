-- Cell and step range of a run's cell_states under the heatmap filters.
SELECT min(cell), max(cell), min(step), max(step)
FROM stream_states
WHERE stream IN (
        SELECT stream FROM streams
        WHERE run_id = $run_id
          AND ($memory IS NULL OR memory = $memory)
          AND ($layer IS NULL OR layer = $layer)
          AND ($head IS NULL OR head = $head)
    )
  AND ($batch IS NULL OR batch = $batch)
