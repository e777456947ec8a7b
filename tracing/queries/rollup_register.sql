-- Record that a run's pre-aggregated rows are built (with its event count at that time).
INSERT INTO memscope_rollups
SELECT $run_id, $built, count(*) FROM memory_events WHERE run_id = $run_id
