-- Pre-aggregated tables that `memscope index` adds to a trace (derived data: never exported,
-- rebuilt on demand). memscope_rollups lists the runs they hold; only finished runs are indexed.
-- memscope_extents: cell and step range per (batch, memory, layer, head) stream, for heatmap axes.
-- memscope_cell_steps: events per (memory, op, cell, step) summed over layers, heads and batch rows
-- (count and weight sum), stored in that order, for heatmaps over whole memories.
CREATE TABLE IF NOT EXISTS memscope_rollups (
    run_id VARCHAR PRIMARY KEY,
    built TIMESTAMP NOT NULL,
    n_events BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS memscope_lifecycles (
    run_id VARCHAR NOT NULL,
    batch INTEGER, memory VARCHAR, layer SMALLINT, head SMALLINT, cell BIGINT,
    born BIGINT, died BIGINT, duration BIGINT, observed INTEGER, cause VARCHAR,
    write_weight FLOAT, write_gate FLOAT
);
CREATE TABLE IF NOT EXISTS memscope_event_counts (
    run_id VARCHAR NOT NULL,
    step BIGINT, batch INTEGER, memory VARCHAR, op VARCHAR, n BIGINT
);
CREATE TABLE IF NOT EXISTS memscope_extents (
    run_id VARCHAR NOT NULL,
    source VARCHAR NOT NULL,  -- 'memory_events' or 'cell_states'
    batch INTEGER, memory VARCHAR, layer SMALLINT, head SMALLINT,
    cell_lo BIGINT, cell_hi BIGINT, step_lo BIGINT, step_hi BIGINT
);
CREATE TABLE IF NOT EXISTS memscope_cell_steps (
    run_id VARCHAR NOT NULL,
    memory VARCHAR NOT NULL,
    op TINYINT NOT NULL,
    cell INTEGER NOT NULL,
    step INTEGER NOT NULL,
    n BIGINT NOT NULL,
    weight DOUBLE
);
