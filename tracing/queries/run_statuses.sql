-- Stored status of every run (as its writer left it, before any liveness judgement).
SELECT run_id, status FROM runs ORDER BY created, run_id
