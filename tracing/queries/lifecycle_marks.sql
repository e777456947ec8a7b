-- The marks of the lifecycles, paired by tracing/lifecycles.py: the writes ($write_code) and deaths
-- ($death_codes: evict, decay, merge, prune) of the chosen streams, with their rowid (recording
-- order: it breaks ties of step between two writes or two deaths on one cell). No ORDER BY: the
-- rows come in rowid order, or not (a filter on a list of streams becomes a join), and numpy sorts.
SELECT batch, stream, cell, step, op, weight, gate, rowid AS seq
FROM stream_events
WHERE stream BETWEEN $stream_lo AND $stream_hi AND ($contiguous OR list_contains($streams, stream))
  AND (op = $write_code OR list_contains($death_codes, op))
