-- 1 when the pre-aggregated tables hold the run, else 0.
SELECT count(*) FROM memscope_rollups WHERE run_id = $run_id
