"""Replay page under AppTest: URL state, the cursor and its buttons, every panel, bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracing.store import TraceStore


def _run_id(path: Path, name: str) -> str:
    runs = TraceStore(path).runs()
    return str(runs.loc[runs["name"] == name, "run_id"].iloc[0])


def test_opens_on_folder_and_lists_traces_and_runs(ui, traces_dir):
    at = ui.open("replay")
    ui.ok(at)
    assert at.title[0].value == "Replay"
    trace_box = at.selectbox(key="replay-trace")
    assert trace_box.options == ["cls.duckdb", "memnet.duckdb", "moment.duckdb"]
    trace_box.set_value("memnet.duckdb").run()
    run_box = at.selectbox(key="replay-run")
    assert len(run_box.options) == 2
    assert at.query_params["trace"] == "memnet.duckdb"
    assert at.query_params["run"] == run_box.value
    assert {m.label: m.value for m in at.metric}["Family"] == "memnet"


def test_url_state_sets_trace_run_and_cursor(ui, traces_dir):
    run_id = _run_id(traces_dir / "moment.duckdb", "moment-demo")
    at = ui.open("replay", {"trace": "moment.duckdb", "run": run_id, "cursor": "5"})
    ui.ok(at)
    assert at.selectbox(key="replay-run").value == run_id
    assert at.slider(key="replay-cursor").value == 5
    token = TraceStore(traces_dir / "moment.duckdb").timeline(run_id).set_index("step").at[5, "token_text"]
    captions = " ".join(ui.texts(at.caption))
    assert f"Cursor at step 5: token {token!r}" in captions
    # the token strip marks the cursor's token
    assert any("step 5" in h.proto.body or "data-step=\"5\"" in h.proto.body for h in at.get("html"))
    # moving the slider updates the URL
    at.slider(key="replay-cursor").set_value(12).run()
    assert at.query_params["cursor"] == "12"


def test_cursor_buttons_step_and_jump(ui, traces_dir):
    run_id = _run_id(traces_dir / "moment.duckdb", "moment-demo")
    at = ui.open("replay", {"trace": "moment.duckdb", "run": run_id, "cursor": "5"})
    at.button(key="replay-forward").click().run()
    assert at.slider(key="replay-cursor").value == 6
    at.button(key="replay-back").click().run()
    at.button(key="replay-back").click().run()
    assert at.slider(key="replay-cursor").value == 4
    at.button(key="replay-last").click().run()
    assert at.slider(key="replay-cursor").value == 39
    at.button(key="replay-first").click().run()
    assert at.slider(key="replay-cursor").value == 0
    assert at.query_params["cursor"] == "0"


def test_play_advances_the_cursor(ui, traces_dir):
    run_id = _run_id(traces_dir / "moment.duckdb", "moment-demo")
    at = ui.open("replay", {"trace": "moment.duckdb", "run": run_id, "cursor": "3"})
    at.button(key="replay-play").click().run()
    ui.ok(at)
    assert at.session_state["replay-playing"] is True
    assert at.slider(key="replay-cursor").value == 4
    assert at.button(key="replay-play").label == "Pause"
    at.button(key="replay-play").click().run()
    assert at.session_state["replay-playing"] is False


def test_cursor_drives_the_panels(ui, traces_dir):
    path = traces_dir / "memnet.duckdb"
    run_id = _run_id(path, "memnet-a")
    at = ui.open("replay", {"trace": "memnet.duckdb", "run": run_id, "cursor": "10"})
    ui.ok(at)
    heat = ui.chart(at, "per cell and step")
    assert heat["data"][0]["type"] == "heatmap"
    # the cursor is drawn as a vertical line at step 10
    assert any(shape.get("x0") == 10 for shape in heat["layout"].get("shapes", []))
    # survival counts only the lives born up to the cursor
    lifecycles = TraceStore(path).lifecycles(run_id)
    born = int((lifecycles["born"] <= 10).sum())
    assert any(f"{born} lifetimes" in c for c in ui.texts(at.caption))
    survival_chart = ui.chart(at, "Survival")
    assert survival_chart["data"]
    at.slider(key="replay-cursor").set_value(29).run()
    born_late = int((lifecycles["born"] <= 29).sum())
    assert born_late > born
    assert any(f"{born_late} lifetimes" in c for c in ui.texts(at.caption))


def test_heatmap_value_and_head_choices(ui, traces_dir):
    run_id = _run_id(traces_dir / "memnet.duckdb", "memnet-a")
    at = ui.open("replay", {"trace": "memnet.duckdb", "run": run_id, "cursor": "0"})
    value = at.selectbox(key="replay-hm-value")
    assert {"write", "read", "update", "evict", "usage", "age"} <= set(value.options)
    assert at.selectbox(key="replay-hm-head").options == ["all", "0", "1"]
    value.set_value("usage").run()
    at.selectbox(key="replay-hm-head").set_value(1).run()
    ui.ok(at)
    heat = ui.chart(at, "usage per cell")
    assert ui.shape(heat["data"][0]["z"]) == (8, 30)  # 8 slots of head 1 x 30 steps
    labels = [b.proto.label for b in at.get("download_button")]
    assert {"PNG", "SVG", "CSV"} <= set(labels)


def test_moment_run_shows_stored_moments_and_resonance(ui, traces_dir):
    path = traces_dir / "moment.duckdb"
    run_id = _run_id(path, "moment-demo")
    at = ui.open("replay", {"trace": "moment.duckdb", "run": run_id, "cursor": "39"})
    ui.ok(at)
    store = TraceStore(path)
    n_moments = len(store.signatures(run_id))
    n_hits = len(store.events(run_id, op="resonance"))
    markdown = " ".join(ui.texts(at.markdown))
    assert f"Stored moments** ({n_moments})" in markdown
    assert f"Resonance hits** ({n_hits})" in markdown
    timeline = ui.chart(at, "")  # the timeline carries the entropy line
    assert timeline["data"]
    whatif = [m for m in at.metric if m.label.startswith("Moments a entropy threshold")]
    assert whatif, "the what-if threshold metric is shown"
    threshold = at.slider(key="replay-tl-threshold").value
    assert int(whatif[0].value) == len(store.whatif(run_id, "entropy", threshold))


def test_empty_folder_says_what_to_do(ui, tmp_path):
    empty = tmp_path / "nothing"
    empty.mkdir()
    at = ui.open("replay", {"folder": str(empty)})
    ui.ok(at)
    assert any("No traces" in w for w in ui.texts(at.warning))


def test_missing_folder_is_an_error(ui, tmp_path):
    at = ui.open("replay")
    at.text_input(key="replay-folder").set_value(str(tmp_path / "missing")).run()
    ui.no_traceback(at)
    assert any("does not exist" in e for e in ui.texts(at.error))


@pytest.mark.parametrize("name, words", [("corrupt.duckdb", "trace"), ("foreign.duckdb", "not a memscope trace")])
def test_bad_trace_files_show_an_error_and_stay_untouched(ui, bad_traces_dir, name, words):
    before = ui.digest(bad_traces_dir)
    at = ui.open("replay", {"folder": str(bad_traces_dir), "trace": name})
    ui.no_traceback(at)
    errors = ui.texts(at.error)
    assert errors and words in errors[0]
    assert ui.digest(bad_traces_dir) == before


def test_empty_run_warns(ui, traces_dir):
    run_id = _run_id(traces_dir / "moment.duckdb", "empty-run")
    at = ui.open("replay", {"trace": "moment.duckdb", "run": run_id})
    ui.ok(at)
    assert any("This run is empty" in w for w in ui.texts(at.warning))
    assert not at.get("plotly_chart")


def test_run_still_being_written_is_followed(ui, running_trace):
    path, recorder = running_trace
    at = ui.open("replay", {"folder": str(path.parent), "trace": path.name})
    ui.ok(at)
    assert any("still being written" in i for i in ui.texts(at.info))
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Status"] == "running" and metrics["Steps"] == "5"
    assert at.slider(key="replay-cursor").value == 4
    for t in range(5, 9):  # the writer goes on
        recorder.steps(step=t, token_id=t, token_text=f" w{t}", surprisal=1.0, entropy=2.0, kl=0.1)
    recorder.flush()
    at.run()
    assert {m.label: m.value for m in at.metric}["Steps"] == "9"
    assert at.slider(key="replay-cursor").value == 8  # a cursor on the last step follows the run


def test_pages_never_write_to_traces(ui, traces_dir):
    before = ui.digest(traces_dir)
    at = ui.open("replay", {"trace": "memnet.duckdb"})
    at.slider(key="replay-cursor").set_value(3).run()
    ui.ok(at)
    assert ui.digest(traces_dir) == before


@pytest.mark.slow
@pytest.mark.xdist_group("umap")  # shares the UMAP compilation with tests/app/test_projection.py
def test_signature_projection_on_request(ui, traces_dir):
    """The UMAP panel compiles on request, then shows every stored signature up to the cursor."""
    path = traces_dir / "moment.duckdb"
    run_id = _run_id(path, "moment-demo")
    at = ui.open("replay", {"trace": "moment.duckdb", "run": run_id, "cursor": "20"})
    ui.request_umap(at, "replay-pj-start")
    ui.ok(at)
    spec = ui.chart(at, "Stored signatures")
    shown = sum(ui.shape(trace["x"])[0] for trace in spec["data"])
    signatures = TraceStore(path).signatures(run_id)
    assert shown == int((signatures["step"] <= 20).sum()) > 0
    names = {trace["name"] for trace in spec["data"]}
    assert names == set(signatures.loc[signatures["step"] <= 20, "trigger"])


def test_run_downloads_as_parquet(ui, traces_dir, tmp_path):
    import io
    import zipfile

    import pyarrow.parquet as pq

    from app.panels import RunRef, run_parquet_zip

    path = traces_dir / "memnet.duckdb"
    run_id = _run_id(path, "memnet-a")
    at = ui.open("replay", {"trace": "memnet.duckdb", "run": run_id})
    assert any(b.proto.label.startswith("Download run as Parquet") for b in at.get("download_button"))
    with zipfile.ZipFile(io.BytesIO(run_parquet_zip(RunRef(str(path), run_id)))) as archive:
        archive.extractall(tmp_path)
    events = pq.read_table(tmp_path / "memory_events").to_pandas()
    assert len(events) == len(TraceStore(path).events(run_id, limit=10**9))
    assert set(events["run_id"].astype(str)) == {run_id}


def test_url_cannot_leave_the_folder(ui, traces_dir):
    at = ui.open("replay", {"trace": "../../etc/passwd", "run": "nope", "cursor": "abc"})
    ui.ok(at)
    assert at.selectbox(key="replay-trace").value == "cls.duckdb"  # unknown names fall back to the first trace
    assert at.query_params["trace"] == "cls.duckdb"


def test_long_runs_show_a_token_window_around_the_cursor(ui, traces_dir, monkeypatch):
    from app import panels

    monkeypatch.setattr(panels, "TOKEN_WINDOW", 10)
    run_id = _run_id(traces_dir / "moment.duckdb", "moment-demo")
    at = ui.open("replay", {"trace": "moment.duckdb", "run": run_id, "cursor": "20"})
    ui.ok(at)
    body = at.get("html")[0].proto.body
    assert body.count("<span") == 10 and 'data-step="20"' in body and 'data-step="14"' not in body
    assert any("Showing tokens 15-24 of 40" in c for c in ui.texts(at.caption))
