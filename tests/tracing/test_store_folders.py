"""tracing.folders: listing traces and refusing paths that escape the chosen folder."""

from __future__ import annotations

import os

import pytest

from tracing.errors import OutsideFolderError
from tracing.folders import list_traces, resolve_inside


@pytest.fixture
def root(tmp_path):
    base = tmp_path / "traces"
    (base / "sub").mkdir(parents=True)
    (base / "b.duckdb").write_bytes(b"x" * 10)
    (base / "a.duckdb").write_bytes(b"x" * 3)
    (base / "sub" / "c.duckdb").write_bytes(b"")
    (base / "notes.txt").write_text("not a trace")
    outside = tmp_path / "secret.duckdb"
    outside.write_bytes(b"s" * 7)
    os.symlink(outside, base / "link_out.duckdb")
    os.symlink(tmp_path, base / "up")
    return base


def test_list_traces_sorted_with_sizes(root):
    listed = [(t.relative, t.size_bytes) for t in list_traces(root)]
    assert listed == [("a.duckdb", 3), ("b.duckdb", 10), ("sub/c.duckdb", 0)]


def test_resolve_inside_accepts_inner_paths(root):
    assert resolve_inside(root, "sub/c.duckdb") == (root / "sub" / "c.duckdb").resolve()
    assert resolve_inside(root, "sub/../a.duckdb") == (root / "a.duckdb").resolve()


@pytest.mark.parametrize("escape", ["../secret.duckdb", "sub/../../secret.duckdb", "link_out.duckdb", "up/secret.duckdb", "/etc/passwd"])
def test_resolve_inside_refuses_escapes(root, escape):
    with pytest.raises(OutsideFolderError):
        resolve_inside(root, escape)


def test_missing_root(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        list_traces(tmp_path / "nowhere")
