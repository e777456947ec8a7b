-- Cell and step range of a run's events under the heatmap filters, over every op, so that the
-- heatmaps of different ops of one memory share their axes.
SELECT min(cell), max(cell), min(step), max(step)
FROM stream_events
WHERE stream IN (
        SELECT stream FROM streams
        WHERE run_id = $run_id
          AND ($memory IS NULL OR memory = $memory)
          AND ($layer IS NULL OR layer = $layer)
          AND ($head IS NULL OR head = $head)
    )
  AND ($batch IS NULL OR batch = $batch)
