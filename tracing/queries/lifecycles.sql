-- One row per life of content in a cell (see the lifecycle convention in tracing/schema.py).
-- A `write` births content. The next lifecycle op on the same cell ends it: a death op
-- ($death_codes: the codes of evict, decay, merge, prune, named by $death_ops) gives that cause;
-- a later `write` ($write_code) is an 'overwrite'. With no such op the life is censored
-- (observed 0, cause 'censored') at the run's last step ($last_step: run_last_step.sql).
-- Within one step deaths come before writes (an evict then a write re-allocates a slot);
-- rowid (insertion order) breaks the remaining ties. The window partitions on integers only
-- (batch, stream, cell) and carries a death code (position in $death_codes, NULL for a write).
-- The output order is total (ties of born broken by every other column), so this answer and
-- lifecycles_rollup.sql's list several writes to one cell at one step in the same order.
WITH marks AS (
    SELECT batch, stream, cell, step, weight, gate,
           list_position($death_codes, op) AS death,
           rowid AS seq
    FROM stream_events
    WHERE stream BETWEEN $stream_lo AND $stream_hi AND ($contiguous OR list_contains($streams, stream))
      AND (op = $write_code OR list_contains($death_codes, op))
), ordered AS (
    SELECT *,
        lead(death) OVER cell_order AS next_death,
        lead(step) OVER cell_order AS next_step
    FROM marks
    WINDOW cell_order AS (PARTITION BY batch, stream, cell ORDER BY step, death IS NULL, seq)
)
SELECT
    CAST(o.batch AS INTEGER) AS batch, s.memory, s.layer, s.head, CAST(o.cell AS BIGINT) AS cell,
    CAST(o.step AS BIGINT) AS born,
    CAST(coalesce(o.next_step, $last_step) AS BIGINT) AS died,
    CAST(coalesce(o.next_step, $last_step) - o.step AS BIGINT) AS duration,
    CAST(o.next_step IS NOT NULL AS INTEGER) AS observed,
    CASE
        WHEN o.next_step IS NULL THEN 'censored'
        WHEN o.next_death IS NULL THEN 'overwrite'
        ELSE $death_ops[o.next_death]
    END AS cause,
    o.weight AS write_weight,
    o.gate AS write_gate
FROM ordered AS o JOIN streams AS s USING (stream)
WHERE o.death IS NULL
ORDER BY batch, memory, layer, head, cell, born, died, cause, write_weight, write_gate
