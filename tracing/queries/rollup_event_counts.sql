-- Events per step, batch row, memory and op of one run, for memscope_event_counts (grouped on
-- integers as in event_counts.sql).
INSERT INTO memscope_event_counts
WITH counts AS (
    SELECT step, batch, $memory_codes[stream - $stream_lo + 1] AS m, op, count(*) AS n
    FROM stream_events
    WHERE stream BETWEEN $stream_lo AND $stream_hi AND ($contiguous OR list_contains($streams, stream))
    GROUP BY ALL
)
SELECT $run_id, CAST(c.step AS BIGINT), CAST(c.batch AS INTEGER), $memories[c.m], o.op, c.n
FROM counts AS c JOIN ops AS o ON o.code = c.op
ORDER BY c.step, c.batch, $memories[c.m], o.op
