"""TraceStore queries against answers computed by hand on a small hand-made trace."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tracing.errors import NotATraceError, UnknownRunError
from tracing.schema import SCHEMA_VERSION
from tracing.store import MIN_STEP_BINS, TraceStore, heatmap_bins

ENTROPY = [0.1, 2.5, 0.3, 3.0, 0.2, 2.0, 0.0, 4.0, 1.0, 2.25]


def script_r1(rec):
    """Slot memory, batch 0, layer 0, head 0, steps 0..9 (see the lifecycle answers below)."""
    rec.steps(step=np.arange(10), batch=0, token_id=np.arange(10) + 100, token_text=[f"t{i}" for i in range(10)],
              entropy=np.array(ENTROPY, np.float32), surprisal=np.arange(10, dtype=np.float32),
              topk_ids=np.arange(20).reshape(10, 2), topk_probs=np.full((10, 2), 0.5, np.float32))
    rec.steps(step=np.arange(10), batch=1, entropy=np.full(10, 9.0, np.float32))
    ev = rec.events
    ev(step=0, op="write", memory="slot", cell=[0, 1], weight=[0.5, 1.0], gate=[0.9, 0.1])
    ev(step=1, op="read", memory="slot", cell=[0, 1], weight=[0.7, 0.3])
    ev(step=1, op="write", memory="knn", cell=0, weight=1.5)
    ev(step=2, op="update", memory="slot", cell=0, weight=0.1)
    ev(step=2, op="prune", memory="slot", cell=3)  # no content: no life
    ev(step=3, op="evict", memory="slot", cell=0)
    ev(step=3, op="write", memory="slot", cell=0, weight=2.0, gate=0.5)
    ev(step=4, op="write", memory="slot", cell=2, weight=0.2)
    ev(step=5, op="write", memory="slot", cell=1, weight=3.0)
    ev(step=6, op="erase", memory="slot", cell=1, weight=0.5)
    ev(step=6, op="merge", memory="slot", cell=2, other_cell=1)
    ev(step=7, op="decay", memory="slot", cell=0)
    ev(step=8, op="evict", memory="slot", cell=0)  # already dead: ignored
    ev(step=9, op="read", memory="slot", cell=1, weight=0.4)
    for s in range(4):
        rec.cell_states(step=s, memory="slot", cell=[0, 1], age=[float(s), float(s)], usage=[0.0 + s, 10.0 + s], norm=1.0)
    rec.moments(moment_id=[0, 1], step=[3, 7], memory="moment", trigger="entropy_spike", entropy=[3.0, 4.0],
                topk_ids=[[1, 2], [3, 4]], topk_probs=[[0.6, 0.4], [0.9, 0.1]], context_hash=["a", "b"],
                context_text=["x", "y"], embedding=np.ones((2, 3), np.float32))
    rec.metric("loss", 2.0, step=0)
    rec.metric("loss", 1.0, step=5)
    rec.metric("accuracy", 0.9, x=8.0, series="memnet")


def script_r2(rec):
    rec.events(step=0, op="write", memory="slot", cell=[0, 1, 2])
    rec.events(step=30, op="read", memory="slot", cell=0)


@pytest.fixture
def store(trace_path, kit):
    kit.write_trace(
        trace_path,
        [
            (kit.run_row("r1", family="memnet"), kit.recorded("r1", script_r1)),
            (kit.run_row("r2", family="cls", created=kit.T0.replace(minute=1)), kit.recorded("r2", script_r2)),
        ],
    )
    return TraceStore(trace_path)


def test_info(store):
    info = store.info()
    assert info["schema_version"] == SCHEMA_VERSION
    assert info["size_bytes"] == store.path.stat().st_size > 0
    assert info["tables"] == {"runs": 2, "steps": 20, "memory_events": 20, "cell_states": 8, "moments": 2, "metrics": 3}
    assert info["indexed_runs"] == 0


def test_runs(store):
    runs = store.runs()
    assert list(runs["run_id"]) == ["r1", "r2"]
    assert list(runs["n_steps"]) == [10, 31]
    assert list(runs["n_events"]) == [16, 4]
    assert list(runs["n_moments"]) == [2, 0]
    assert list(runs["status"]) == ["complete", "complete"]
    assert list(runs["family"]) == ["memnet", "cls"]


def test_unknown_run(store):
    with pytest.raises(UnknownRunError, match="no run 'nope'.*memscope runs"):
        store.lifecycles("nope")


def test_lifecycles(store):
    got = store.lifecycles("r1")
    cols = ["memory", "cell", "born", "died", "duration", "observed", "cause"]
    expected = pd.DataFrame(
        [
            ("knn", 0, 1, 9, 8, 0, "censored"),
            ("slot", 0, 0, 3, 3, 1, "evict"),
            ("slot", 0, 3, 7, 4, 1, "decay"),
            ("slot", 1, 0, 5, 5, 1, "overwrite"),
            ("slot", 1, 5, 9, 4, 0, "censored"),
            ("slot", 2, 4, 6, 2, 1, "merge"),
        ],
        columns=cols,
    )
    pd.testing.assert_frame_equal(got[cols].reset_index(drop=True), expected, check_dtype=False)
    assert got["write_weight"].tolist() == pytest.approx([1.5, 0.5, 2.0, 1.0, 3.0, 0.2])
    gates = got["write_gate"].tolist()
    assert gates[1:4] == pytest.approx([0.9, 0.5, 0.1]) and all(math.isnan(g) for g in (gates[0], gates[4], gates[5]))
    assert set(got[["batch", "layer", "head"]].to_numpy().ravel()) == {0}
    assert len(store.lifecycles("r1", memory="knn")) == 1


def test_lifecycles_of_cells_and_steps_far_apart(trace_path, kit):
    """Cells and steps spanning their whole INTEGER range: too wide for one packed sort key."""
    low, high = -(2**31), 2**31 - 1

    def script(rec):
        rec.events(step=low, op="write", memory="slot", cell=[0, high], weight=[1.0, 2.0])
        rec.events(step=low, op="write", memory="slot", cell=0, weight=0.5)  # overwrites 1.0 in its step
        rec.events(step=0, op="evict", memory="slot", cell=high)
        rec.events(step=high, op="write", memory="slot", cell=high, weight=3.0)

    kit.write_trace(trace_path, [(kit.run_row("r"), kit.recorded("r", script))])
    got = TraceStore(trace_path).lifecycles("r")[["cell", "born", "died", "cause", "write_weight"]]
    assert got.values.tolist() == [
        [0, low, low, "overwrite", 1.0], [0, low, high, "censored", 0.5],
        [high, low, 0, "evict", 2.0], [high, high, high, "censored", 3.0],
    ]


def test_heatmap_full_resolution(store):
    hm = store.heatmap("r1", "write", memory="slot")
    assert (hm.cell_bin, hm.step_bin, hm.n_cells, hm.n_steps, hm.sampled) == (1, 1, 4, 10, False)
    assert sorted(map(tuple, hm.frame[["cell", "step", "value"]].to_numpy().tolist())) == [
        (0, 0, 1), (0, 3, 1), (1, 0, 1), (1, 5, 1), (2, 4, 1)
    ]


def test_heatmap_all_memories_counts_knn_too(store):
    hm = store.heatmap("r1", "write")
    assert hm.frame["value"].sum() == 6
    assert ((hm.frame["cell"] == 0) & (hm.frame["step"] == 1)).sum() == 1


def test_heatmap_binned(store):
    hm = store.heatmap("r1", "write", memory="slot", max_cells=20)
    assert (hm.cell_bin, hm.step_bin, hm.sampled) == (2, 1, True)
    assert sorted(map(tuple, hm.frame.to_numpy().tolist())) == [(0, 0, 2), (0, 3, 1), (0, 5, 1), (2, 4, 1)]
    hm = store.heatmap("r1", "write", memory="slot", max_cells=4)
    assert (hm.cell_bin, hm.step_bin) == (4, 3)
    assert sorted(map(tuple, hm.frame.to_numpy().tolist())) == [(0, 0, 2), (0, 3, 3)]
    assert len(hm.frame) <= 4


def test_heatmap_weight_sum(store):
    hm = store.heatmap("r1", "read", memory="slot", agg="weight")
    got = {(c, s): v for c, s, v in hm.frame.to_numpy().tolist()}
    assert got == pytest.approx({(0, 1): 0.7, (1, 1): 0.3, (1, 9): 0.4})


def test_heatmap_cell_states(store):
    hm = store.heatmap("r1", "usage", memory="slot")
    assert (hm.n_cells, hm.n_steps, hm.cell_bin, hm.step_bin) == (2, 4, 1, 1)
    got = {(c, s): v for c, s, v in hm.frame.to_numpy().tolist()}
    assert got == {(c, s): 10.0 * c + s for c in (0, 1) for s in range(4)}
    hm = store.heatmap("r1", "usage", memory="slot", max_cells=4)
    assert (hm.cell_bin, hm.step_bin) == (2, 1)
    assert hm.frame["value"].tolist() == [5.0, 6.0, 7.0, 8.0]


def test_heatmap_filters_and_empty(store):
    hm = store.heatmap("r1", "write", memory="slot", layer=1)
    assert hm.frame.empty and hm.n_cells == 0
    assert store.heatmap("r2", "write", batch=0).frame["value"].sum() == 3


def test_heatmap_rejects_unknown_value(store):
    with pytest.raises(ValueError, match="unknown heatmap value"):
        store.heatmap("r1", "writes")


@pytest.mark.parametrize("n_cells,n_steps,max_cells", [(4, 10, 40), (4, 10, 20), (4, 10, 3), (64, 10**6, 250_000),
                                                         (10**5, 10**4, 250_000), (1, 10**9, 7), (3000, 100, 1000)])
def test_heatmap_bins_fit(n_cells, n_steps, max_cells):
    cell_bin, step_bin = heatmap_bins(n_cells, n_steps, max_cells)
    assert math.ceil(n_cells / cell_bin) * math.ceil(n_steps / step_bin) <= max(max_cells, 1)
    if n_cells * min(n_steps, MIN_STEP_BINS) <= max_cells:
        assert cell_bin == 1  # cells keep full resolution while there is room


def test_timeline(store):
    tl = store.timeline("r1", start=2, stop=5)
    assert tl["step"].tolist() == [2, 3, 4]
    assert tl["token_text"].tolist() == ["t2", "t3", "t4"]
    assert tl["entropy"].tolist() == pytest.approx([0.3, 3.0, 0.2])
    assert tl["topk_ids"].iloc[0].tolist() == [4, 5]
    assert len(store.timeline("r1", batch=1)) == 10


def test_event_counts(store):
    ec = store.event_counts("r1", start=1, stop=4)
    rows = sorted(map(tuple, ec.to_numpy().tolist()))
    assert rows == [(1, "knn", "write", 1), (1, "slot", "read", 2), (2, "slot", "prune", 1), (2, "slot", "update", 1),
                    (3, "slot", "evict", 1), (3, "slot", "write", 1)]


def test_events(store):
    ev = store.events("r1", step=3)
    assert sorted(ev["op"]) == ["evict", "write"]
    assert store.events("r1", op="read")["step"].tolist() == [1, 1, 9]
    assert len(store.events("r1", limit=5)) == 5
    merge = store.events("r1", op="merge")
    assert merge[["cell", "other_cell"]].to_numpy().tolist() == [[2, 1]]


def test_signatures_and_metrics(store):
    sig = store.signatures("r1")
    assert sig["moment_id"].tolist() == [0, 1]
    assert sig["topk_ids"].iloc[1].tolist() == [3, 4]
    assert sig["embedding"].iloc[0].tolist() == [1.0, 1.0, 1.0]
    assert len(store.signatures("r1", limit=1)) == 1
    assert store.signatures("r2").empty
    assert store.metrics("r1", name="loss")["value"].tolist() == [2.0, 1.0]
    assert store.metrics("r1")["name"].tolist() == ["accuracy", "loss", "loss"]


def test_whatif(store):
    w = store.whatif("r1", "entropy", 2.0)
    assert w["step"].tolist() == [1, 3, 7, 9]  # strictly above: 2.0 at step 5 is not stored
    assert w["token_text"].tolist() == ["t1", "t3", "t7", "t9"]
    assert len(store.whatif("r1", "entropy", 2.0, batch=1)) == 10
    assert len(store.whatif("r1", "surprisal", 6.5)) == 3
    with pytest.raises(ValueError, match="unknown what-if column"):
        store.whatif("r1", "entropy; DROP TABLE steps", 1.0)


def test_reads_leave_the_file_unchanged(store, kit):
    before = kit.file_digest(store.path)
    store.runs(), store.info(), store.heatmap("r1"), store.lifecycles("r1"), store.timeline("r1"), store.whatif("r1", "kl", 0.0)
    assert kit.file_digest(store.path) == before


def test_hostile_names_are_stored_and_listed_verbatim(trace_path, kit):
    name = """Robert'); DROP TABLE runs;-- "quoted" \\ %s {x}"""
    run_id = "id'; DELETE FROM memory_events; --"
    kit.write_trace(trace_path, [(kit.run_row(run_id, name=name), kit.recorded(run_id, script_r2))])
    store = TraceStore(trace_path)
    runs = store.runs()
    assert runs["name"].tolist() == [name] and runs["run_id"].tolist() == [run_id]
    assert store.heatmap(run_id, "write").frame["value"].sum() == 3
    assert store.events(run_id, op="x' OR '1'='1").empty
    assert store.info()["tables"]["memory_events"] == 4


def test_store_refuses_bad_file(tmp_path):
    bad = tmp_path / "bad.duckdb"
    bad.write_bytes(b"not a database at all" * 100)
    with pytest.raises(NotATraceError):
        TraceStore(bad)
