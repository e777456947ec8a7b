-- Number of events per step, memory and op, for steps in [start, stop).
-- Grouped on integers: a stream's memory is its code in $memory_codes (indexed by stream - $stream_lo),
-- which names an entry of $memories; ops are joined to their names after grouping.
WITH counts AS (
    SELECT step, $memory_codes[stream - $stream_lo + 1] AS m, op, count(*) AS n
    FROM stream_events
    WHERE stream BETWEEN $stream_lo AND $stream_hi AND ($contiguous OR list_contains($streams, stream))
      AND ($batch IS NULL OR batch = $batch)
      AND ($start IS NULL OR step >= $start)
      AND ($stop IS NULL OR step < $stop)
    GROUP BY ALL
)
SELECT CAST(c.step AS BIGINT) AS step, $memories[c.m] AS memory, o.op, c.n
FROM counts AS c JOIN ops AS o ON o.code = c.op
ORDER BY step, memory, op
