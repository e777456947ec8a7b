"""Training configs and overrides, checkpoints (safetensors only, config checks), resume."""

from __future__ import annotations

import json

import pytest
import torch

from engine.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from engine.models import MODELS, UnknownModelError, model_spec
from engine.training.config import ConfigError, build_config
from engine.training import trainer as trainer_module
from engine.training.trainer import train

TINY = ["steps=4", "batch_size=4", "eval_every=2", "eval_batches=1", "task.max_distance=16", "model.d_model=16", "model.n_attn_heads=2"]
TINY_MEMNET = TINY + ["model.n_slots=8", "model.slot_dim=8", "model.chunk_size=4", "model.window=8", "model.n_layers=1"]


def test_overrides_file_and_sections(tmp_path):
    path = tmp_path / "cfg.toml"
    path.write_text('steps = 7\nlr = 0.01\n[model_params]\nn_slots = 16\n')
    cfg = build_config({"model": "memnet"}, file=path, overrides=["model.top_k=2", "task.distance=64", "eval.distance=128", "persist_state=true"])
    assert cfg.steps == 7 and cfg.lr == 0.01 and cfg.persist_state is True
    assert cfg.model_params == {"n_slots": 16, "top_k": 2}
    assert cfg.task_params == {"distance": 64} and cfg.eval_params == {"distance": 128}
    json_path = tmp_path / "cfg.json"
    json_path.write_text(json.dumps({"steps": 3, "task": "mqar"}))
    assert build_config({}, file=json_path).task == "mqar"


@pytest.mark.parametrize("override, message", [("bogus=1", "unknown setting 'bogus'"), ("steps", "is not key=value"), ("steps=0", "steps must be positive")])
def test_bad_overrides_are_one_line(override, message):
    with pytest.raises(ConfigError) as err:
        build_config({}, overrides=[override])
    assert message in str(err.value) and "\n" not in str(err.value)


def test_resume_applies_changed_loss_weights_and_refuses_shape_changes(tmp_path):
    out = tmp_path / "ck"
    train(build_config({"model": "memnet", "out": str(out)}, overrides=TINY_MEMNET), progress=False, log=lambda _: None)
    stage = [o.replace("steps=4", "steps=6") for o in TINY_MEMNET] + ["model.pressure_weight=0.25"]
    resumed = train(build_config({"model": "memnet", "out": str(out)}, overrides=stage), resume=out, progress=False, log=lambda _: None)
    assert resumed.metrics["step"] == 6 and load_checkpoint(out).config.pressure_weight == 0.25
    with pytest.raises(CheckpointError, match="n_slots|shape") as err:
        train(build_config({"model": "memnet", "out": str(out)}, overrides=stage + ["model.n_slots=12"]), resume=out, progress=False, log=lambda _: None)
    assert "\n" not in str(err.value)


def test_training_stops_at_target_accuracy(tmp_path, monkeypatch):
    monkeypatch.setattr(trainer_module, "evaluate", lambda *args, **kwargs: {"accuracy": 0.5, "n_scored": 4.0})
    out = tmp_path / "ck"
    logs: list[str] = []
    result = train(build_config({"model": "memnet", "out": str(out)}, overrides=TINY_MEMNET + ["target_accuracy=0.5"]), progress=False, log=logs.append)
    assert result.metrics["step"] == 2 and [h["step"] for h in result.metrics["history"]] == [2]
    assert any("target accuracy" in line for line in logs)
    with pytest.raises(ConfigError, match="target_accuracy"):
        build_config({}, overrides=["target_accuracy=1.5"])


def test_unknown_model_name():
    with pytest.raises(UnknownModelError, match="unknown model 'nope'"):
        model_spec("nope")


def test_train_writes_checkpoint_and_resume_continues(tmp_path):
    out = tmp_path / "ck"
    result = train(build_config({"model": "memnet", "out": str(out)}, overrides=TINY_MEMNET), progress=False, log=lambda _: None)
    assert {p.name for p in out.iterdir()} >= {"model.safetensors", "config.json", "metrics.json", "optimizer.safetensors", "trainer.json"}
    assert result.metrics["step"] == 4 and [h["step"] for h in result.metrics["history"]] == [2, 4]
    ckpt = load_checkpoint(out)
    assert ckpt.family == "memnet" and ckpt.config.n_slots == 8
    resumed = train(build_config({"model": "memnet", "out": str(out)}, overrides=[o.replace("steps=4", "steps=6") for o in TINY_MEMNET]), resume=out, progress=False, log=lambda _: None)
    assert resumed.metrics["step"] == 6 and [h["step"] for h in resumed.metrics["history"]] == [2, 4, 6]
    # the stage's own time, and the whole curriculum's so far
    assert result.metrics["total_train_seconds"] == pytest.approx(result.metrics["train_seconds"])
    assert resumed.metrics["total_train_seconds"] == pytest.approx(result.metrics["total_train_seconds"] + resumed.metrics["train_seconds"])


def test_same_seed_same_weights(tmp_path):
    a = train(build_config({"model": "lstm", "out": str(tmp_path / "a")}, overrides=["steps=3", "batch_size=4", "eval_every=3", "eval_batches=1", "model.hidden=8"]), progress=False, log=lambda _: None)
    b = train(build_config({"model": "lstm", "out": str(tmp_path / "b")}, overrides=["steps=3", "batch_size=4", "eval_every=3", "eval_batches=1", "model.hidden=8"]), progress=False, log=lambda _: None)
    wa, wb = load_checkpoint(a.checkpoint).model.state_dict(), load_checkpoint(b.checkpoint).model.state_dict()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def _saved(tmp_path):
    spec = MODELS["memnet"]
    cfg = spec.make_config(vocab_size=20, d_model=16, n_attn_heads=2, n_slots=8, slot_dim=8, chunk_size=4, window=8, n_layers=1)
    return save_checkpoint(tmp_path / "ck", spec.build(cfg), family="memnet", config=cfg, metrics={"accuracy": 0.5})


def test_round_trip_is_exact(tmp_path):
    folder = _saved(tmp_path)
    ckpt = load_checkpoint(folder)
    tokens = torch.randint(0, 20, (2, 12))
    again = load_checkpoint(folder)
    assert torch.equal(ckpt.model.eval()(tokens).logits, again.model.eval()(tokens).logits)
    assert ckpt.metrics == {"accuracy": 0.5}


def test_non_safetensors_weights_are_refused(tmp_path):
    folder = _saved(tmp_path)
    torch.save({"x": torch.zeros(2)}, folder / "model.safetensors")  # a pickle under the right name
    with pytest.raises(CheckpointError, match="not a (valid )?safetensors file"):
        load_checkpoint(folder)


def test_mismatched_config_is_refused(tmp_path):
    folder = _saved(tmp_path)
    payload = json.loads((folder / "config.json").read_text())
    payload["model"]["n_slots"] = 16
    (folder / "config.json").write_text(json.dumps(payload))
    with pytest.raises(CheckpointError, match="do not match its memnet config"):
        load_checkpoint(folder)
    payload["model"]["n_slots"] = 0
    (folder / "config.json").write_text(json.dumps(payload))
    with pytest.raises(CheckpointError, match="n_slots must be positive"):
        load_checkpoint(folder)
    payload["model"]["n_slots"] = 8
    payload["family"] = "lstm"
    (folder / "config.json").write_text(json.dumps(payload))
    with pytest.raises(CheckpointError, match="does not match model 'lstm'"):
        load_checkpoint(folder)


def test_folder_without_config_and_plain_file_are_refused(tmp_path):
    with pytest.raises(CheckpointError, match="not a checkpoint folder"):
        load_checkpoint(tmp_path)
    f = tmp_path / "weights.bin"
    f.write_bytes(b"\x00" * 16)
    with pytest.raises(CheckpointError, match="is a file"):
        load_checkpoint(f)
