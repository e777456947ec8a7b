"""Property tests over random event streams: heatmap totals, lifecycles against a reference, Parquet identity."""

from __future__ import annotations

import tempfile
from pathlib import Path

import duckdb
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracing.connection import expected_columns
from tracing.parquet import export_runs, import_runs
from tracing.recorder import MemoryRecorder
from tracing.schema import DEATH_OPS, OPS, TABLES
from tracing.store import TraceStore

EVENT = st.tuples(
    st.integers(0, 30),  # step
    st.integers(0, 5),  # cell
    st.sampled_from(OPS),
    st.floats(0, 4, allow_nan=False, width=32),  # weight
    st.sampled_from([0, 1]),  # head
)
STREAM = st.lists(EVENT, min_size=0, max_size=60)
ENTROPIES = st.lists(st.floats(0, 8, allow_nan=False, width=32), min_size=1, max_size=30)
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
"""``kit`` is a stateless helper namespace, safe to share between examples."""


def build(kit, folder: Path, events, entropies=(1.0,), run_id="r") -> Path:
    """A trace whose run ``run_id`` holds ``events`` (one recorder call each, in order) and steps."""
    rec = MemoryRecorder(run_id)
    rec.steps(step=np.arange(len(entropies)), entropy=np.asarray(entropies, np.float32))
    for step, cell, op, weight, head in events:
        rec.events(step=step, op=op, memory="slot", head=head, cell=cell, weight=weight, gate=weight / 8)
    return kit.write_trace(folder / "t.duckdb", [(kit.run_row(run_id), rec.tables())])


def reference_lifecycles(events, last_step):
    """The lifecycle convention in plain Python: (head, cell, born, died, observed, cause, weight), sorted."""
    lives = []
    by_cell = {}
    for index, (step, cell, op, weight, head) in enumerate(events):
        if op == "write" or op in DEATH_OPS:
            by_cell.setdefault((head, cell), []).append((step, op == "write", index, op, weight))
    for (head, cell), marks in by_cell.items():
        live = None
        for step, _, _, op, weight in sorted(marks):
            if live is not None:
                lives.append((head, cell, live[0], step, 1, "overwrite" if op == "write" else op, live[1]))
                live = None
            if op == "write":
                live = (step, weight)
        if live is not None:
            lives.append((head, cell, live[0], last_step, 0, "censored", live[1]))
    return sorted(lives)


@SETTINGS
@given(events=STREAM, entropies=ENTROPIES, op=st.sampled_from(OPS), max_cells=st.integers(1, 400),
       threshold=st.floats(0, 8, allow_nan=False))
def test_queries_on_random_streams(kit, events, entropies, op, max_cells, threshold):
    """One random trace per example; every query checked against plain Python on the same stream."""
    with tempfile.TemporaryDirectory() as folder:
        store = TraceStore(build(kit, Path(folder), events, entropies))
        heatmap = store.heatmap("r", op, memory="slot", max_cells=max_cells)
        weights = store.heatmap("r", op, head=1, max_cells=max_cells, agg="weight")
        lives = store.lifecycles("r")
        stored = store.whatif("r", "entropy", threshold)

    # heatmap: binned totals are the event counts, in at most max_cells bins
    assert heatmap.frame["value"].sum() == sum(1 for e in events if e[2] == op)
    assert len(heatmap.frame) <= max_cells
    head1_weight = sum(np.float32(e[3]) for e in events if e[2] == op and e[4] == 1)
    assert np.isclose(weights.frame["value"].sum(), head1_weight, rtol=1e-4, atol=1e-4)

    # lifecycles: one per write, durations >= 0, and exactly the reference implementation's
    last_step = max([e[0] for e in events] + [len(entropies) - 1])
    assert len(lives) == sum(1 for e in events if e[2] == "write")
    assert (lives["duration"] >= 0).all() and (lives["died"] <= last_step).all()
    assert ((lives["observed"] == 0) == (lives["cause"] == "censored")).all()
    got = sorted(
        (int(r.head), int(r.cell), int(r.born), int(r.died), int(r.observed), r.cause, float(r.write_weight))
        for r in lives.itertuples()
    )
    expected = [(h, c, b, d, o, cause, float(np.float32(w))) for h, c, b, d, o, cause, w in reference_lifecycles(events, last_step)]
    assert got == expected

    # what-if: the steps whose float32 entropy is above the threshold (compared in double, as SQL does)
    above = np.flatnonzero(np.asarray(entropies, np.float32).astype(np.float64) > threshold)
    assert stored["step"].tolist() == above.tolist()


def _all_rows(path):
    """Every table's rows, order normalised (sorted), list values as tuples."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {
            table: sorted(
                (tuple(tuple(v) if isinstance(v, list) else v for v in row)
                 for row in con.execute(f"SELECT {', '.join(expected_columns()[table])} FROM {table}").fetchall()),
                key=repr,
            )
            for table in TABLES
        }
    finally:
        con.close()


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(events=STREAM, entropies=ENTROPIES, run_id=st.text(min_size=1, max_size=12))
def test_parquet_round_trip_identity(kit, events, entropies, run_id):
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        source = build(kit, folder, events, entropies, run_id=run_id)
        export_runs(source, None, folder / "export")
        target = folder / "copy.duckdb"
        import_runs(folder / "export", target)
        assert _all_rows(target) == _all_rows(source)
