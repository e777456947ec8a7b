"""Compare page under AppTest: two runs side by side, linked cursor, the four difference views."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.figures.diff import moment_overlap
from app.figures.survival import logrank
from app.panels import lifecycles_until
from tracing.store import TraceStore


def _run_id(traces_dir: Path, trace: str, name: str) -> str:
    runs = TraceStore(traces_dir / trace).runs()
    return str(runs.loc[runs["name"] == name, "run_id"].iloc[0])


def _open_pair(ui, traces_dir: Path, a: tuple[str, str], b: tuple[str, str]):
    """The Compare page with trace/run A and B chosen; returns ``(at, run_id_a, run_id_b)``."""
    ids = [_run_id(traces_dir, *pick) for pick in (a, b)]
    state = {"cmp-A-trace": a[0], "cmp-A-run": ids[0], "cmp-B-trace": b[0], "cmp-B-run": ids[1]}
    return ui.open("compare", state=state), ids[0], ids[1]


def test_two_memnet_runs_side_by_side_with_diffs(ui, traces_dir):
    at, a, b = _open_pair(ui, traces_dir, ("memnet.duckdb", "memnet-a"), ("memnet.duckdb", "memnet-b"))
    ui.ok(at)
    assert at.slider(key="cmp-cursor").value == 29
    # one heatmap per side plus the occupancy difference
    heatmaps = [s for s in ui.specs(at) if s["data"] and s["data"][0]["type"] == "heatmap"]
    assert len(heatmaps) == 3
    occupancy = ui.chart(at, "Cell occupancy of slot, A - B")
    assert occupancy["data"][0]["zmid"] == 0.0
    store = TraceStore(traces_dir / "memnet.duckdb")
    statistic, p_value = logrank(store.lifecycles(a), store.lifecycles(b))
    assert any(f"chi2 = {statistic:.3g}, p = {p_value:.3g}" in c for c in ui.texts(at.caption))
    accuracy = ui.chart(at, "accuracy vs")
    assert {t["name"] for t in accuracy["data"]} == {"A: memnet-a: memnet-a", "B: memnet-b: memnet-b"}
    assert any("stored some" in i for i in ui.texts(at.info))  # slot runs store no moments


def test_linked_cursor_moves_both_panes(ui, traces_dir):
    at, a, b = _open_pair(ui, traces_dir, ("memnet.duckdb", "memnet-a"), ("memnet.duckdb", "memnet-b"))
    at.slider(key="cmp-cursor").set_value(7).run()
    ui.ok(at)
    heatmaps = [s for s in ui.specs(at) if s["data"] and s["data"][0]["type"] == "heatmap" and s["layout"].get("shapes")]
    assert len(heatmaps) == 2 and all(s["layout"]["shapes"][0]["x0"] == 7 for s in heatmaps)
    # the survival comparison is censored at the cursor: its log-rank test is that of the lives up to step 7
    store = TraceStore(traces_dir / "memnet.duckdb")
    lives = [lifecycles_until(store.lifecycles(r), 7) for r in (a, b)]
    statistic, p_value = logrank(*lives)
    full = logrank(store.lifecycles(a), store.lifecycles(b))
    assert (statistic, p_value) != full
    assert any(f"chi2 = {statistic:.3g}, p = {p_value:.3g}" in c for c in ui.texts(at.caption))


def test_moment_overlap_counts(ui, traces_dir, tmp_path):
    at, run_id, _ = _open_pair(ui, traces_dir, ("moment.duckdb", "moment-demo"), ("moment.duckdb", "moment-demo"))
    ui.ok(at)
    sig = TraceStore(traces_dir / "moment.duckdb").signatures(run_id)
    _, counts, _ = moment_overlap(sig, sig, max_divergence=0.25)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["In both"] == str(counts["both"]) == str(len(sig))  # a run overlaps itself fully
    assert metrics["Only in A"] == "0" and metrics["Jaccard"] == "1.00"
    ui.chart(at, "Overlap of stored moments")


def test_runs_of_different_families_are_refused(ui, traces_dir):
    at, _, _ = _open_pair(ui, traces_dir, ("memnet.duckdb", "memnet-a"), ("cls.duckdb", "cls-demo"))
    ui.no_traceback(at)
    assert any("memnet run and run B a cls run" in e and "Pick two runs of one family" in e for e in ui.texts(at.error))
    assert not at.get("plotly_chart")


def test_checkpoints_of_different_families_are_refused(ui, tmp_path, tiny_checkpoint):
    memnet = tiny_checkpoint(tmp_path / "memnet", "memnet")
    cls = tiny_checkpoint(tmp_path / "cls", "cls")
    at = ui.open("compare", state={"cmp-mode": "Two checkpoints on one input", "cmp-A-ckpt": str(memnet),
                                   "cmp-B-ckpt": str(cls)})
    ui.no_traceback(at)
    assert any("A is a memnet model and B a cls model" in e for e in ui.texts(at.error))
    at.text_input(key="cmp-B-ckpt").set_value(str(tmp_path)).run()
    assert any("not a checkpoint folder" in e for e in ui.texts(at.error))


@pytest.mark.slow
def test_two_checkpoints_run_on_one_input(ui, tmp_path, tiny_checkpoint):
    a = tiny_checkpoint(tmp_path / "a", "memnet", seed=0)
    b = tiny_checkpoint(tmp_path / "b", "memnet", seed=1)
    at = ui.open("compare", state={"cmp-mode": "Two checkpoints on one input", "cmp-A-ckpt": str(a),
                                   "cmp-B-ckpt": str(b), "cmp-task": "recall"})
    at.button(key="cmp-run").click().run()
    ui.ok(at)
    refs = at.session_state["cmp-checkpoint-refs"]
    assert [r.label for r in refs] == ["A: a", "B: b"]
    runs = TraceStore(refs[0].path).runs().set_index("run_id")
    assert runs.at[refs[0].run_id, "family"] == "memnet" and runs.at[refs[0].run_id, "status"] == "complete"
    accuracy = ui.chart(at, "accuracy vs")
    assert len(accuracy["data"]) == 2
    assert ui.shape(accuracy["data"][0]["x"]) == (4,)  # distances 8, 16, 32, 64


@pytest.mark.slow
@pytest.mark.xdist_group("umap")  # shares the UMAP compilation with the other projection tests
def test_aligned_projection_shares_axes(ui, traces_dir):
    at, run_id, _ = _open_pair(ui, traces_dir, ("moment.duckdb", "moment-demo"), ("moment.duckdb", "moment-demo"))
    ui.request_umap(at, "cmp-pj-start")
    ui.ok(at)
    panes = [s for s in ui.specs(at) if "stored signatures" in str(s["layout"].get("title", {}))]
    assert len(panes) == 2
    assert panes[0]["layout"]["xaxis"]["range"] == panes[1]["layout"]["xaxis"]["range"]
    n = len(TraceStore(traces_dir / "moment.duckdb").signatures(run_id))
    assert all(sum(ui.shape(t["x"])[0] for t in pane["data"]) == n for pane in panes)
