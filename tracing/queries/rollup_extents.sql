-- Cell and step range of every (batch, memory, layer, head) stream of one run, in its events and
-- in its cell states, for memscope_extents (the heatmap axes without a scan of the events).
INSERT INTO memscope_extents
SELECT s.run_id, x.source, x.batch, s.memory, s.layer, s.head, x.cell_lo, x.cell_hi, x.step_lo, x.step_hi
FROM (
    SELECT 'memory_events' AS source, stream, batch, min(cell) AS cell_lo, max(cell) AS cell_hi,
           min(step) AS step_lo, max(step) AS step_hi
    FROM stream_events WHERE stream BETWEEN $stream_lo AND $stream_hi AND ($contiguous OR list_contains($streams, stream)) GROUP BY ALL
    UNION ALL
    SELECT 'cell_states', stream, batch, min(cell), max(cell), min(step), max(step)
    FROM stream_states WHERE stream BETWEEN $stream_lo AND $stream_hi AND ($contiguous OR list_contains($streams, stream)) GROUP BY ALL
) AS x
JOIN streams AS s USING (stream)
