-- Metric rows of a run, optionally of one name.
SELECT step, name, value, x, series
FROM metrics
WHERE run_id = $run_id
  AND ($name IS NULL OR name = $name)
ORDER BY name, series NULLS FIRST, x NULLS FIRST, step NULLS FIRST
