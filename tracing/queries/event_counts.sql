-- Number of events per step, memory and op, for steps in [start, stop).
WITH picked AS (  -- the run's streams, with a small integer per memory name to group on
    SELECT stream, memory, dense_rank() OVER (ORDER BY memory) AS m FROM streams WHERE run_id = $run_id
), counts AS (
    SELECT e.step, p.m, e.op, count(*) AS n
    FROM stream_events AS e JOIN picked AS p USING (stream)
    WHERE ($batch IS NULL OR e.batch = $batch)
      AND ($start IS NULL OR e.step >= $start)
      AND ($stop IS NULL OR e.step < $stop)
    GROUP BY ALL
), names AS (
    SELECT DISTINCT m, memory FROM picked
)
SELECT CAST(c.step AS BIGINT) AS step, names.memory, o.op, c.n
FROM counts AS c JOIN names USING (m) JOIN ops AS o ON o.code = c.op
ORDER BY step, memory, op
