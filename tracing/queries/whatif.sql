-- Steps of one batch row whose $column (entropy, kl or surprisal) exceeds $threshold: the
-- moments a salience threshold would have stored.
WITH scored AS (
    SELECT step, token_id, token_text,
           CASE $column WHEN 'entropy' THEN entropy WHEN 'kl' THEN kl WHEN 'surprisal' THEN surprisal END AS value
    FROM steps
    WHERE run_id = $run_id AND batch = $batch
)
SELECT step, token_id, token_text, value
FROM scored
WHERE value > $threshold
ORDER BY step
