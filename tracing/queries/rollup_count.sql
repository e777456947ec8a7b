-- Number of runs that memscope index pre-aggregated.
SELECT count(*) FROM memscope_rollups
