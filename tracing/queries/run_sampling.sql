-- How the run's cell_states were sampled (NULL: every change recorded).
SELECT cell_state_sampling FROM runs WHERE run_id = $run_id
