-- 1 when memscope_cell_steps holds rows of the run, else 0. Runs indexed before that table existed
-- have none (their heatmaps read the events until `memscope index` runs again); a run without events
-- has none either, and its events answer just as fast.
SELECT count(*) FROM (SELECT 1 FROM memscope_cell_steps WHERE run_id = $run_id LIMIT 1)
