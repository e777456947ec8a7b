-- Events of one run per memory, op, cell and step, summed over layers, heads and batch rows (count
-- and weight sum; the sum is NULL where every weight is), for memscope_cell_steps. Grouped on
-- integers (memory code as in event_counts.sql) and stored sorted by op, memory, cell and step: a
-- heatmap's op filter then skips whole row groups, and its bins come in order.
INSERT INTO memscope_cell_steps
WITH cells AS (
    SELECT $memory_codes[stream - $stream_lo + 1] AS m, op, cell, step, count(*) AS n, sum(weight) AS weight
    FROM stream_events
    WHERE stream BETWEEN $stream_lo AND $stream_hi AND ($contiguous OR list_contains($streams, stream))
    GROUP BY ALL
)
SELECT $run_id, $memories[m], op, cell, step, n, weight
FROM cells
ORDER BY op, m, cell, step
