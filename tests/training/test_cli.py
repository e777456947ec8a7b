"""``memscope train`` / ``memscope eval`` end to end, and their one-line refusals."""

from __future__ import annotations

import json

import pytest
import torch

from app.cli import main
from tests.cli_helpers import run_cli

TINY = ["--steps", "4", "--batch-size", "4", "--eval-every", "2", "--quiet", "--set", "eval_batches=1", "--set", "task.max_distance=16"]
MEMNET = ["--set", "model.d_model=16", "--set", "model.n_attn_heads=2", "--set", "model.n_slots=8", "--set", "model.slot_dim=8", "--set", "model.chunk_size=4", "--set", "model.window=8", "--set", "model.n_layers=1"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("ck") / "memnet"
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "memnet", "--out", str(out), *TINY, *MEMNET])
        raise SystemExit(0)
    assert exit_info.value.code == 0
    return out


def test_train_then_eval_writes_a_trace(trained, tmp_path, capsys):
    from tracing.store import TraceStore

    trace = tmp_path / "eval.duckdb"
    code, out, err = run_cli(["eval", str(trained), "--task", "recall", "--distances", "8,32", "--out", str(trace), "--batches", "1", "--batch-size", "4"], capsys)
    assert code == 0, err
    store = TraceStore(trace)
    run = store.runs().iloc[0]
    metrics = store.metrics(run.run_id)
    names = set(metrics["name"])
    assert {"accuracy", "read_top1_mass", "read_slots_90", "usage_entropy", "write_frequency", "slot_reuse", "read_entropy"} <= names
    assert sorted(metrics[metrics["name"] == "accuracy"]["x"].tolist()) == [8.0, 32.0]
    ops = set(store.events(run.run_id, limit=100_000)["op"])
    assert "read" in ops and "write" in ops
    assert not store.timeline(run.run_id).empty


@pytest.mark.parametrize(
    "make_args, message",
    [
        (lambda ck, t: ["eval", str(ck), "--task", "nope", "--out", str(t)], "unknown task 'nope'"),
        (lambda ck, t: ["eval", str(ck), "--distances", "8,x", "--out", str(t)], "comma-separated integers"),
        (lambda ck, t: ["train", "memnet", *TINY, "--set", "model.n_slots=0", "--out", str(t.parent / "z")], "n_slots must be positive"),
        (lambda ck, t: ["train", "memnet", *TINY, "--set", "model.n_slots=-2", "--out", str(t.parent / "z")], "n_slots must be positive"),
        (lambda ck, t: ["train", "memnet", *TINY, "--set", "model.top_k=64", "--out", str(t.parent / "z")], "top_k (64) must not exceed n_slots (32)"),
        (lambda ck, t: ["train", "memnet", "--task", "nope", "--out", str(t.parent / "z")], "unknown task 'nope'"),
    ],
)
def test_bad_input_is_one_line(trained, tmp_path, capsys, make_args, message):
    code, _, err = run_cli(make_args(trained, tmp_path / "e.duckdb"), capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0]


def test_eval_refuses_pickle_and_mismatched_checkpoints(trained, tmp_path, capsys):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(trained, bad)
    torch.save({"w": torch.zeros(1)}, bad / "model.safetensors")
    code, _, err = run_cli(["eval", str(bad), "--out", str(tmp_path / "e.duckdb")], capsys)
    assert code == 2 and "safetensors" in err and len(err.strip().splitlines()) == 1
    shutil.copy(trained / "model.safetensors", bad / "model.safetensors")
    payload = json.loads((bad / "config.json").read_text())
    payload["model"]["slot_dim"] = 4
    (bad / "config.json").write_text(json.dumps(payload))
    code, _, err = run_cli(["eval", str(bad), "--out", str(tmp_path / "e.duckdb")], capsys)
    assert code == 2 and "do not match" in err and len(err.strip().splitlines()) == 1
