-- Cell and step range of every (batch, memory, layer, head) stream of one run, in its events and
-- in its cell states, for memscope_extents (the heatmap axes without a scan of the events).
INSERT INTO memscope_extents
SELECT run_id, 'memory_events', batch, memory, layer, head, min(cell), max(cell), min(step), max(step)
FROM memory_events WHERE run_id = $run_id GROUP BY ALL
UNION ALL
SELECT run_id, 'cell_states', batch, memory, layer, head, min(cell), max(cell), min(step), max(step)
FROM cell_states WHERE run_id = $run_id GROUP BY ALL
