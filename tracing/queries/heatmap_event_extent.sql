-- Cell and step range of a run's events under the heatmap filters, over every op, so that the
-- heatmaps of different ops of one memory share their axes.
SELECT min(cell), max(cell), min(step), max(step)
FROM stream_events
WHERE stream BETWEEN $stream_lo AND $stream_hi AND ($contiguous OR list_contains($streams, stream))
  AND ($batch IS NULL OR batch = $batch)
