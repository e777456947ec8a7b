-- Steps of one batch row in [start, stop), in step order.
SELECT step, token_id, token_text, surprisal, entropy, kl, topk_ids, topk_probs
FROM steps
WHERE run_id = $run_id
  AND batch = $batch
  AND ($start IS NULL OR step >= $start)
  AND ($stop IS NULL OR step < $stop)
ORDER BY step
