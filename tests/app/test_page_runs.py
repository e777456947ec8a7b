"""Runs page under AppTest: the table of every run, links into Replay, bad folders."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

from tracing.store import TraceStore


def test_table_lists_every_run_with_links(ui, traces_dir):
    at = ui.open("runs")
    ui.ok(at)
    assert at.title[0].value == "Runs"
    table = at.dataframe[0].value
    expected = sum(len(TraceStore(p).runs()) for p in traces_dir.glob("*.duckdb"))
    assert len(table) == expected == 5
    assert set(table["trace"]) == {"moment.duckdb", "memnet.duckdb", "cls.duckdb"}
    assert {"status", "model", "input", "n_steps", "n_events", "file_mb"} <= set(table.columns)
    assert {m.label: m.value for m in at.metric}["Runs"] == "5"
    row = table[table["name"] == "memnet-b"].iloc[0]
    query = parse_qs(urlparse(row["replay"]).query)
    assert urlparse(row["replay"]).path == "/replay"
    assert query == {"trace": ["memnet.duckdb"], "run": [row["run_id"]]}


def test_page_link_opens_the_chosen_run_in_replay(ui, traces_dir):
    at = ui.open("runs")
    table = at.dataframe[0].value
    index = int(table.index[table["name"] == "cls-demo"][0])
    at.selectbox(key="runs-pick").set_value(index).run()
    ui.ok(at)
    link = at.get("page_link")[0]
    assert "replay" in link.proto.page
    assert table.at[index, "run_id"] in link.proto.label
    assert f"run={table.at[index, 'run_id']}" in link.proto.query_string


def test_unreadable_files_are_listed_with_reasons(ui, bad_traces_dir):
    before = ui.digest(bad_traces_dir)
    at = ui.open("runs", {"folder": str(bad_traces_dir)})
    ui.ok(at)
    warnings = ui.texts(at.warning)
    assert any(w.startswith("Skipped corrupt.duckdb") for w in warnings)
    assert any(w.startswith("Skipped foreign.duckdb") and "not a memscope trace" in w for w in warnings)
    assert list(at.dataframe[0].value["trace"]) == ["good.duckdb"]
    assert ui.digest(bad_traces_dir) == before


def test_folder_without_traces_warns(ui, tmp_path):
    at = ui.open("runs", {"folder": str(tmp_path)})
    ui.no_traceback(at)
    assert any("No runs in" in w for w in ui.texts(at.warning))
    at.text_input(key="runs-folder").set_value(str(tmp_path / "nope")).run()
    assert any("does not exist" in e for e in ui.texts(at.error))


def test_command_line_folders_and_defaults(monkeypatch, tmp_path):
    from app.state import SAMPLE_TRACES, parse_app_args

    monkeypatch.delenv("MEMSCOPE_TRACES", raising=False)
    monkeypatch.delenv("MEMSCOPE_RUNS", raising=False)
    monkeypatch.chdir(tmp_path)
    default = parse_app_args([])
    assert default.traces == SAMPLE_TRACES.resolve() and default.runs == tmp_path.resolve() / "runs"
    chosen = parse_app_args(["--traces", str(tmp_path / "t"), "--runs", str(tmp_path / "r"), "--unrelated", "x"])
    assert chosen.traces == tmp_path / "t" and chosen.runs == tmp_path / "r"
