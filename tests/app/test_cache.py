"""The app's query cache: keyed on the file's stamp, with an uncached path for live decisions."""

from __future__ import annotations

from app import cache
from tracing.writer import DuckDBRecorder


def test_query_fresh_sees_a_change_that_kept_the_stamp(tmp_path, monkeypatch):
    trace = tmp_path / "live.duckdb"
    with DuckDBRecorder(trace, name="first", family="memnet"):
        pass
    monkeypatch.setattr(cache, "file_stamp", lambda path: (1, 1, 0, 0))  # a flush within one mtime tick, same size
    assert list(cache.query(trace, "runs")["name"]) == ["first"]
    with DuckDBRecorder(trace, name="second", family="memnet"):
        pass
    assert list(cache.query(trace, "runs")["name"]) == ["first"]  # the cache cannot tell
    assert sorted(cache.query_fresh(trace, "runs")["name"]) == ["first", "second"]
