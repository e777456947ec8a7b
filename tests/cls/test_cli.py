"""``memscope train cls`` and ``memscope eval`` on a CLS checkpoint; bad input refused with one line."""

from __future__ import annotations

import json

import pytest

from app.cli import main
from tracing.store import TraceStore
from tests.cli_helpers import run_cli as cli, one_line_error

TINY = [
    "--set", "model.d_model=16", "--set", "model.n_heads=2", "--set", "model.n_layers=1", "--set", "model.d_ff=32",
    "--set", "model.chunk_size=8", "--set", "task.n_pairs=3", "--set", "task.n_keys=64", "--set", "task.n_values=4",
]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cls") / "ckpt"
    try:
        main(["train", "cls", "--task", "assoc-recall", "--steps", "4", "--batch-size", "4", "--device", "cpu", "--quiet", "--out", str(folder), *TINY])
    except SystemExit as exc:
        assert not exc.code
    return folder


def test_train_then_eval_writes_a_fast_weight_trace(checkpoint, tmp_path, capsys):
    config = json.loads((checkpoint / "config.json").read_text())
    assert config["family"] == "cls" and config["model"]["rule"] == "delta"
    out = tmp_path / "eval.duckdb"
    code, stdout, err = cli(["eval", str(checkpoint), "--task", "assoc-recall", "--pairs", "2,3", "--batches", "1", "--batch-size", "4", "--device", "cpu", "--out", str(out)], capsys)
    assert code == 0, err
    assert "x=2.0: accuracy" in stdout and "x=3.0: accuracy" in stdout
    store = TraceStore(out)
    run = store.runs().iloc[0]
    assert run.family == "cls" and run.status == "complete"
    counts = store.event_counts(run.run_id)
    assert set(counts.memory) == {"fast_weight"} and {"write", "read"} <= set(counts.op)
    metrics = store.metrics(run.run_id)
    assert {"accuracy", "fast_weight_norm", "context_drift", "write_gate"} <= set(metrics.name)
    lifecycles = store.lifecycles(run.run_id, memory="fast_weight")
    assert len(lifecycles) > 0 and lifecycles.write_gate.between(0, 1).all()


@pytest.mark.parametrize("setting,phrase", [("model.eta=1.5", "eta must be in (0, 1]"), ("model.context_lambda=1.0", "lambda"), ("model.rule=oja", "unknown fast-weight rule")])
def test_bad_model_settings_are_refused(setting, phrase, tmp_path, capsys):
    code, _, err = cli(["train", "cls", "--task", "assoc-recall", "--steps", "1", "--device", "cpu", "--quiet", "--out", str(tmp_path / "x"), *TINY, "--set", setting], capsys)
    assert one_line_error(code, err, phrase), err


def test_mismatched_checkpoint_config_is_refused(checkpoint, tmp_path, capsys):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(checkpoint, bad)
    config = json.loads((bad / "config.json").read_text())
    config["model"]["rule"] = "hyper"  # the weights have no hypernetwork
    (bad / "config.json").write_text(json.dumps(config))
    code, _, err = cli(["eval", str(bad), "--task", "assoc-recall", "--device", "cpu", "--out", str(tmp_path / "t.duckdb")], capsys)
    assert one_line_error(code, err, "do not match"), err
    config["model"]["eta"] = 3.0
    (bad / "config.json").write_text(json.dumps(config))
    code, _, err = cli(["eval", str(bad), "--task", "assoc-recall", "--device", "cpu", "--out", str(tmp_path / "t.duckdb")], capsys)
    assert one_line_error(code, err, "eta must be in (0, 1]"), err
