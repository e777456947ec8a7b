-- The streams of a run under the memory / layer / head filters, in id order, with their memory.
-- The store passes them to the event queries as a range ($stream_lo, $stream_hi: a filter DuckDB
-- applies while it scans) plus the list ($streams) when the range has gaps ($contiguous false).
SELECT stream, memory
FROM streams
WHERE run_id = $run_id
  AND ($memory IS NULL OR memory = $memory)
  AND ($layer IS NULL OR layer = $layer)
  AND ($head IS NULL OR head = $head)
ORDER BY stream
