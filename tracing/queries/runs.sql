-- One row per run with its counts. n_steps = 1 + the last step seen in steps or memory_events.
WITH step_stats AS (
    SELECT run_id, max(step) AS last_step FROM steps GROUP BY run_id
), event_stats AS (  -- per stream (an integer key), then per run
    SELECT s.run_id, max(e.last_step) AS last_step, sum(e.n) AS n
    FROM (SELECT stream, max(step) AS last_step, count(*) AS n FROM stream_events GROUP BY stream) AS e
    JOIN streams AS s USING (stream)
    GROUP BY s.run_id
), moment_stats AS (
    SELECT run_id, count(*) AS n FROM moments GROUP BY run_id
)
SELECT
    r.run_id, r.name, r.created, r.finished, r.status AS stored_status, r.heartbeat,
    r.writer_pid, r.writer_host, r.family, r.model, r.input, r.device, r.config, r.versions,
    r.schema_version, r.cell_state_sampling,
    1 + greatest(coalesce(s.last_step, -1), coalesce(e.last_step, -1)) AS n_steps,
    coalesce(e.n, 0) AS n_events,
    coalesce(m.n, 0) AS n_moments
FROM runs AS r
LEFT JOIN step_stats AS s USING (run_id)
LEFT JOIN event_stats AS e USING (run_id)
LEFT JOIN moment_stats AS m USING (run_id)
ORDER BY r.created, r.run_id
