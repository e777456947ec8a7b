-- Stored moments (signatures) of a run, optionally of one memory, in moment order.
SELECT moment_id, step, batch, memory, layer, head, trigger, entropy, kl, surprisal,
       topk_ids, topk_probs, context_hash, context_text, embedding
FROM moments
WHERE run_id = $run_id
  AND ($memory IS NULL OR memory = $memory)
ORDER BY memory, moment_id, step
LIMIT $limit
