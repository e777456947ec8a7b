-- The streams of a run (of $memory, or all), in the order lifecycles are listed: memory, layer, head.
SELECT stream, memory, layer, head
FROM streams
WHERE run_id = $run_id
  AND ($memory IS NULL OR memory = $memory)
ORDER BY memory, layer, head
