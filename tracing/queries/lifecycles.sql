-- One row per life of content in a cell (see the lifecycle convention in tracing/schema.py).
-- A `write` births content. The next lifecycle op on the same cell ends it: a death op
-- ($death_ops: evict, decay, merge, prune) gives that cause; a later `write` is an 'overwrite'.
-- With no such op the life is censored (observed 0, cause 'censored') at the run's last step.
-- Within one step deaths come before writes (an evict then a write re-allocates a slot);
-- rowid (insertion order) breaks the remaining ties. The window carries a death code (position
-- in $death_ops, NULL for a write) instead of the op string: a narrower sort.
-- The output order is total (ties of born broken by every other column), so this answer and
-- lifecycles_rollup.sql's list several writes to one cell at one step in the same order.
WITH last AS (
    SELECT greatest(
        coalesce((SELECT max(step) FROM memory_events WHERE run_id = $run_id), 0),
        coalesce((SELECT max(step) FROM steps WHERE run_id = $run_id), 0)
    ) AS last_step
), marks AS (
    SELECT batch, memory, layer, head, cell, step, weight, gate,
           list_position($death_ops, op) AS death,
           rowid AS seq
    FROM memory_events
    WHERE run_id = $run_id
      AND (op = 'write' OR list_contains($death_ops, op))
      AND ($memory IS NULL OR memory = $memory)
), ordered AS (
    SELECT *,
        lead(death) OVER cell_order AS next_death,
        lead(step) OVER cell_order AS next_step
    FROM marks
    WINDOW cell_order AS (PARTITION BY batch, memory, layer, head, cell ORDER BY step, death IS NULL, seq)
)
SELECT
    batch, memory, layer, head, cell,
    step AS born,
    coalesce(next_step, last.last_step) AS died,
    coalesce(next_step, last.last_step) - step AS duration,
    CAST(next_step IS NOT NULL AS INTEGER) AS observed,
    CASE
        WHEN next_step IS NULL THEN 'censored'
        WHEN next_death IS NULL THEN 'overwrite'
        ELSE $death_ops[next_death]
    END AS cause,
    weight AS write_weight,
    gate AS write_gate
FROM ordered CROSS JOIN last
WHERE death IS NULL
ORDER BY batch, memory, layer, head, cell, born, died, cause, write_weight, write_gate
