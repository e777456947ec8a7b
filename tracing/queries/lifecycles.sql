-- One row per life of content in a cell (see the lifecycle convention in tracing/schema.py).
-- A `write` births content. The next lifecycle op on the same cell ends it: a death op
-- ($death_ops: evict, decay, merge, prune) gives that cause; a later `write` is an 'overwrite'.
-- With no such op the life is censored (observed 0, cause 'censored') at the run's last step.
-- Within one step deaths come before writes (an evict then a write re-allocates a slot);
-- rowid (insertion order) breaks the remaining ties.
WITH last AS (
    SELECT greatest(
        coalesce((SELECT max(step) FROM memory_events WHERE run_id = $run_id), 0),
        coalesce((SELECT max(step) FROM steps WHERE run_id = $run_id), 0)
    ) AS last_step
), marks AS (
    SELECT
        batch, memory, layer, head, cell, step, op, weight, gate,
        lead(op) OVER cell_order AS next_op,
        lead(step) OVER cell_order AS next_step
    FROM memory_events
    WHERE run_id = $run_id
      AND (op = 'write' OR list_contains($death_ops, op))
      AND ($memory IS NULL OR memory = $memory)
    WINDOW cell_order AS (
        PARTITION BY batch, memory, layer, head, cell
        ORDER BY step, op = 'write', rowid
    )
)
SELECT
    batch, memory, layer, head, cell,
    step AS born,
    coalesce(next_step, last.last_step) AS died,
    coalesce(next_step, last.last_step) - step AS duration,
    CAST(next_op IS NOT NULL AS INTEGER) AS observed,
    CASE WHEN next_op IS NULL THEN 'censored' WHEN next_op = 'write' THEN 'overwrite' ELSE next_op END AS cause,
    weight AS write_weight,
    gate AS write_gate
FROM marks CROSS JOIN last
WHERE op = 'write'
ORDER BY batch, memory, layer, head, cell, born
