-- The last step of a run: the largest step in its events (the streams of the run) or its steps;
-- lifes still open are censored there.
SELECT greatest(
    coalesce((SELECT max(step) FROM stream_events WHERE stream BETWEEN $stream_lo AND $stream_hi AND ($contiguous OR list_contains($streams, stream))), 0),
    coalesce((SELECT max(step) FROM steps WHERE run_id = $run_id), 0)
)
