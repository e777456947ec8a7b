-- Record that a run's pre-aggregated rows are built (with its event count at that time).
INSERT INTO memscope_rollups
SELECT $run_id, $built, count(*) FROM stream_events WHERE stream BETWEEN $stream_lo AND $stream_hi AND ($contiguous OR list_contains($streams, stream))
