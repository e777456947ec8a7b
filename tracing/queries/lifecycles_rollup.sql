-- The lifecycles of tracing/lifecycles.py (a run's raw events), read from the pre-aggregated
-- memscope_lifecycles of an indexed run, listed in the same total order.
SELECT batch, memory, layer, head, cell, born, died, duration, observed, cause, write_weight, write_gate
FROM memscope_lifecycles
WHERE run_id = $run_id
  AND ($memory IS NULL OR memory = $memory)
ORDER BY batch, memory, layer, head, cell, born, died, cause, write_weight, write_gate
