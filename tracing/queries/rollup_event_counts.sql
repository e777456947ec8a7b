-- Events per step, batch row, memory and op of one run, for memscope_event_counts.
INSERT INTO memscope_event_counts
WITH picked AS (  -- the run's streams, with a small integer per memory name to group on
    SELECT stream, memory, dense_rank() OVER (ORDER BY memory) AS m FROM streams WHERE run_id = $run_id
), counts AS (
    SELECT e.step, e.batch, p.m, e.op, count(*) AS n
    FROM stream_events AS e JOIN picked AS p USING (stream)
    WHERE TRUE
    GROUP BY ALL
), names AS (
    SELECT DISTINCT m, memory FROM picked
)
SELECT $run_id, CAST(c.step AS BIGINT), CAST(c.batch AS INTEGER), names.memory, o.op, c.n
FROM counts AS c JOIN names USING (m) JOIN ops AS o ON o.code = c.op
ORDER BY c.step, c.batch, names.memory, o.op
