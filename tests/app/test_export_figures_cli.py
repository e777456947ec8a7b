"""``memscope export-figures``: the files a run exports, their contents, and one-line errors."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tracing.store import TraceStore
from tracing.writer import DuckDBRecorder
from tests.cli_helpers import run_cli

pytestmark = pytest.mark.xdist_group("kaleido")


@pytest.fixture(scope="module")
def slot_trace(tmp_path_factory) -> tuple[Path, str]:
    """A slot-memory run: 2 heads x 4 slots, writes with LRU evictions, reads, cell states."""
    path = tmp_path_factory.mktemp("export") / "slots.duckdb"
    rng = np.random.default_rng(0)
    with DuckDBRecorder(path, name="export-demo", family="memnet", model="memnet-tiny", input="copy", device="cpu") as rec:
        for head in range(2):
            for t in range(12):
                cell = t % 4
                if t >= 4:
                    rec.events(step=t, op="evict", memory="slot", head=head, cell=cell)
                rec.events(step=t, op="write", memory="slot", head=head, cell=cell, weight=float(rng.uniform()), gate=1.0)
                rec.events(step=t, op="read", memory="slot", head=head, cell=np.array([0, 1]), weight=np.array([0.5, 0.5]))
                rec.cell_states(step=t, memory="slot", head=head, cell=np.arange(4), age=np.arange(4, dtype=np.float32),
                                usage=np.full(4, 0.5, np.float32), norm=np.ones(4, np.float32))
        run_id = rec.run_id
    return path, run_id


def test_exports_heatmaps_and_survival_in_every_format(slot_trace, tmp_path, capsys):
    trace, run_id = slot_trace
    out = tmp_path / "figures"
    code, stdout, _ = run_cli(["export-figures", trace, "--run", run_id, "--out", out], capsys)
    assert code == 0
    stems = {"heatmap-slot-write", "heatmap-slot-read", "heatmap-slot-usage", "heatmap-slot-age", "survival"}
    assert {p.name for p in out.iterdir()} == {f"{s}.{f}" for s in stems for f in ("png", "svg", "csv")}
    assert len(stdout.splitlines()) == 15
    for stem in stems:
        assert (out / f"{stem}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert ET.fromstring((out / f"{stem}.svg").read_bytes()).tag.endswith("svg")
    # the CSV holds the figure's data: the store's heatmap cells, the KM estimate
    writes = pd.read_csv(out / "heatmap-slot-write.csv")
    expected = TraceStore(trace).heatmap(run_id, value="write", memory="slot").frame
    pd.testing.assert_frame_equal(writes, expected.reset_index(drop=True), check_dtype=False)
    assert writes["value"].sum() == 24  # 2 heads x 12 writes
    survival = pd.read_csv(out / "survival.csv")
    assert set(survival["stratum"]) == {"all"} and survival["n"].iloc[0] == 24


def test_csv_only_with_strata(slot_trace, tmp_path, capsys):
    trace, run_id = slot_trace
    code, _, _ = run_cli(["export-figures", trace, "--run", run_id, "--out", tmp_path, "--format", "csv", "--stratify", "head"], capsys)
    assert code == 0
    assert {p.suffix for p in tmp_path.iterdir()} == {".csv"}
    assert set(pd.read_csv(tmp_path / "survival.csv")["stratum"]) == {"L0 H0", "L0 H1"}


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--format", "png,gif"], "error: unknown format gif"),
        (["--stratify", "colour"], "error: unknown --stratify 'colour'"),
    ],
)
def test_bad_options_fail_in_one_line(slot_trace, tmp_path, capsys, extra, message):
    trace, run_id = slot_trace
    code, _, err = run_cli(["export-figures", trace, "--run", run_id, "--out", tmp_path, *extra], capsys)
    assert code == 2
    assert err.strip().startswith(message) and len(err.strip().splitlines()) == 1


def test_unknown_run_missing_trace_and_file_as_out_fail_in_one_line(slot_trace, tmp_path, capsys):
    trace, _ = slot_trace
    code, _, err = run_cli(["export-figures", trace, "--run", "nope", "--out", tmp_path / "o"], capsys)
    assert code == 2 and "no run 'nope'" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli(["export-figures", tmp_path / "missing.duckdb", "--run", "x", "--out", tmp_path / "o"], capsys)
    assert code == 2 and "is not a file" in err
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, err = run_cli(["export-figures", trace, "--run", "x", "--out", blocker], capsys)
    assert code == 2 and "is not a folder" in err
    assert not (tmp_path / "o").exists()  # nothing written on failure


def test_run_without_memory_events_fails_in_one_line(tmp_path, capsys):
    trace = tmp_path / "empty.duckdb"
    with DuckDBRecorder(trace, name="empty", family="moment", model="tiny-lm", input="") as rec:
        rec.steps(step=np.arange(3), token_id=np.arange(3), entropy=np.ones(3, np.float32))
        run_id = rec.run_id
    code, _, err = run_cli(["export-figures", trace, "--run", run_id, "--out", tmp_path / "o"], capsys)
    assert code == 2 and err.strip() == f"error: run {run_id} has no memory events: nothing to export"
    assert not (tmp_path / "o").exists()
