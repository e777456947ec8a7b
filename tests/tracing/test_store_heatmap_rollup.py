"""Heatmaps of indexed runs over whole memories read memscope_cell_steps and answer exactly what the
raw events answer (counts and weight sums, any binning); older indexes without that table still work."""

from __future__ import annotations

import tempfile
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracing.schema import OPS
from tracing.store import TraceStore, index_runs

QUARTERS = st.one_of(st.none(), st.integers(-40, 40).map(lambda q: q / 4))  # sums of these are exact in double
EVENT = st.tuples(
    st.integers(0, 40),  # step
    st.integers(0, 9),  # cell
    st.sampled_from(OPS),
    st.sampled_from(["slot", "knn"]),
    st.integers(0, 1),  # layer
    st.integers(0, 2),  # head
    st.integers(0, 1),  # batch
    QUARTERS,  # weight
)
BINNINGS = (250_000, 7)  # one pixel per cell and step; binned steps and cells


def trace(kit, path: Path, runs: dict[str, list[tuple]]) -> Path:
    def script(events):
        def record(rec):
            for step, cell, op, memory, layer, head, batch, weight in events:
                rec.events(step=step, op=op, memory=memory, layer=layer, head=head, batch=batch, cell=cell, weight=weight)
        return record

    return kit.write_trace(path, [(kit.run_row(run_id), kit.recorded(run_id, script(events))) for run_id, events in runs.items()])


def heatmaps(store: TraceStore, run_id: str, ops, memory: str | None) -> list[tuple]:
    """The whole-memory event heatmaps of ``ops`` in ``memory`` (None: all): counts and weight sums, each binning."""
    out = []
    for op in ops:
        for agg in ("count", "weight"):
            for max_cells in BINNINGS:
                h = store.heatmap(run_id, op, memory=memory, agg=agg, max_cells=max_cells)
                out.append((h.frame, h.cell_bin, h.step_bin, h.n_cells, h.n_steps, h.sampled))
    return out


def assert_same(before: list[tuple], after: list[tuple]) -> None:
    assert len(before) == len(after)
    for old, new in zip(before, after):
        pd.testing.assert_frame_equal(old[0], new[0])
        assert old[1:] == new[1:]


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(
    events=st.lists(EVENT, min_size=1, max_size=60),
    other=st.lists(EVENT, max_size=20),
    memory=st.sampled_from([None, "slot", "knn"]),
)
def test_indexed_whole_memory_heatmaps_equal_the_raw_ones(kit, events, other, memory):
    with tempfile.TemporaryDirectory() as folder:
        store = TraceStore(trace(kit, Path(folder) / "t.duckdb", {"r": events, "other": other}))
        ops = sorted({e[2] for e in events})[:2]
        raw = heatmaps(store, "r", ops, memory)
        index_runs(store.path)
        assert_same(raw, heatmaps(store, "r", ops, memory))


def random_events(seed: int, n: int = 3000) -> list[tuple]:
    rng = np.random.default_rng(seed)
    weights = rng.normal(size=n).astype(np.float32)  # sums round differently in another order
    return [
        (int(rng.integers(0, 400)), int(rng.integers(0, 64)), "read", "slot", int(rng.integers(0, 2)),
         int(rng.integers(0, 4)), int(rng.integers(0, 3)), float(w))
        for w in weights
    ]


def test_float_weight_sums_agree_to_rounding(kit, trace_path):
    store = TraceStore(trace(kit, trace_path, {"r": random_events(0)}))
    raw = [store.heatmap("r", "read", agg="weight", max_cells=m) for m in BINNINGS]
    index_runs(trace_path)
    for before, after in zip(raw, [store.heatmap("r", "read", agg="weight", max_cells=m) for m in BINNINGS]):
        pd.testing.assert_frame_equal(before.frame[["cell", "step"]], after.frame[["cell", "step"]])
        np.testing.assert_allclose(after.frame["value"], before.frame["value"], rtol=1e-9, atol=1e-9)


def scale_cell_steps(path: Path, factor: int) -> None:
    con = duckdb.connect(str(path))
    con.execute("UPDATE memscope_cell_steps SET n = n * ?, weight = weight * ?", [factor, factor])
    con.close()


def test_whole_memory_heatmaps_read_the_cell_steps_and_filtered_ones_the_events(kit, trace_path):
    store = TraceStore(trace(kit, trace_path, {"r": random_events(1, 500)}))
    filtered = store.heatmap("r", "read", memory="slot", layer=1).frame
    index_runs(trace_path)
    whole = store.heatmap("r", "read").frame
    scale_cell_steps(trace_path, 10)  # only a query that reads the table sees this
    assert (store.heatmap("r", "read").frame["value"] == 10 * whole["value"]).all()
    pd.testing.assert_frame_equal(store.heatmap("r", "read", memory="slot", layer=1).frame, filtered)


def test_runs_indexed_before_the_cell_steps_table_read_the_events(kit, trace_path):
    """A file indexed by an older version has no memscope_cell_steps; indexing a newer run later creates
    it with that run's rows only. The older run's heatmaps keep reading its events, until re-indexed."""
    store = TraceStore(trace(kit, trace_path, {"old": random_events(2, 400)}))
    index_runs(trace_path)
    con = duckdb.connect(str(trace_path))
    con.execute("DROP TABLE memscope_cell_steps")  # as an older version's index left it
    con.close()
    raw_old = store.heatmap("old", "read", agg="weight").frame
    assert store.runs()["run_id"].tolist() == ["old"]

    con = duckdb.connect(str(trace_path))
    con.execute("INSERT INTO runs SELECT * REPLACE ('new' AS run_id) FROM runs WHERE run_id = 'old'")
    con.execute("INSERT INTO streams SELECT stream + 100, 'new', memory, layer, head FROM streams WHERE run_id = 'old'")
    con.execute("INSERT INTO stream_events SELECT * REPLACE (stream + 100 AS stream) FROM stream_events")
    con.close()
    index_runs(trace_path, ["new"])
    scale_cell_steps(trace_path, 2)
    pd.testing.assert_frame_equal(store.heatmap("old", "read", agg="weight").frame, raw_old)  # from the events
    new = store.heatmap("new", "read", agg="weight").frame
    np.testing.assert_allclose(new["value"], 2 * raw_old["value"], rtol=1e-9)  # from the cell steps

    index_runs(trace_path)  # re-indexing builds the older run's rows too
    pd.testing.assert_frame_equal(store.heatmap("old", "read", agg="weight").frame, raw_old)
    scale_cell_steps(trace_path, 3)
    np.testing.assert_allclose(store.heatmap("old", "read", agg="weight").frame["value"], 3 * raw_old["value"], rtol=1e-9)
