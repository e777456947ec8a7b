-- Cell and step range of a run's cell_states under the heatmap filters.
SELECT min(cell), max(cell), min(step), max(step)
FROM stream_states
WHERE stream BETWEEN $stream_lo AND $stream_hi AND ($contiguous OR list_contains($streams, stream))
  AND ($batch IS NULL OR batch = $batch)
