"""MemNet end to end: tracing never changes outputs, losses, state across calls, bad configs."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from engine.memnet.config import MemNetConfig, MemNetConfigError
from engine.memnet.model import MemNet
from engine.models import MODELS
from tracing.recorder import MemoryRecorder


@pytest.mark.parametrize("slot_keys", [False, True])
def test_traced_and_untraced_outputs_are_identical(tiny_config, slot_keys):
    model = MemNet(dataclasses.replace(tiny_config, slot_keys=slot_keys)).eval()
    tokens = torch.randint(0, 20, (3, 37))
    plain = model(tokens)
    rec = MemoryRecorder()
    traced = model(tokens, recorder=rec)
    assert torch.equal(plain.logits, traced.logits)
    assert all(torch.equal(plain.aux_losses[k], traced.aux_losses[k]) for k in plain.aux_losses)
    assert torch.equal(plain.state.memory, traced.state.memory)
    tables = rec.tables()
    assert tables["memory_events"].num_rows > 0 and tables["cell_states"].num_rows > 0


def test_traced_and_untraced_identical_in_training_mode_with_same_seed(tiny_config):
    model = MemNet(tiny_config).train()
    tokens = torch.randint(0, 20, (2, 20))
    torch.manual_seed(5)
    plain = model(tokens).logits
    torch.manual_seed(5)
    traced = model(tokens, recorder=MemoryRecorder()).logits
    assert torch.equal(plain, traced)  # tracing draws no random numbers (age noise unchanged)


def test_aux_losses_are_weighted_and_differentiable(tiny_config):
    cfg = dataclasses.replace(tiny_config, util_weight=2.0, pressure_weight=3.0, read_entropy_weight=0.5)
    model = MemNet(cfg)
    out = model(torch.randint(0, 20, (2, 16)))
    assert set(out.aux_losses) == {"util", "pressure", "read_entropy"}
    off = MemNet(dataclasses.replace(cfg, util_weight=0.0, pressure_weight=0.0, read_entropy_weight=0.0))
    off.load_state_dict(model.state_dict())
    out_off = off(torch.randint(0, 20, (2, 16)))
    assert "read_entropy" not in out_off.aux_losses and out_off.aux_losses["util"].item() == 0.0
    sum(out.aux_losses.values()).backward()
    assert model.controller.gates.weight.grad.abs().sum() > 0  # pressure pushes on the write gate


@pytest.mark.parametrize("slot_keys", [False, True])
def test_memory_state_persists_across_calls(tiny_config, slot_keys):
    model = MemNet(dataclasses.replace(tiny_config, slot_keys=slot_keys)).eval()
    first = model(torch.randint(0, 20, (2, 16)))
    assert first.state.step == 16 and first.state.live.any()
    tokens = torch.randint(0, 20, (2, 8))
    carried = model(tokens, state=first.state, step_offset=16)
    fresh = model(tokens)
    assert carried.state.step == 24
    assert not torch.equal(carried.logits, fresh.logits)  # reads of the second call see the first call's writes
    assert (carried.state.keys is not None) == slot_keys
    if slot_keys:  # the slot keys travel with the state, detached for the next episode
        assert not torch.equal(carried.state.keys, first.state.keys)
        assert carried.state.detach().keys.grad_fn is None


@pytest.mark.parametrize(
    "change, message",
    [({"n_slots": 0}, "n_slots must be positive"), ({"n_slots": -3}, "n_slots must be positive"), ({"top_k": 9}, "top_k (9) must not exceed n_slots (8)")],
)
def test_bad_memory_configs_are_refused_with_one_line(tiny_config, change, message):
    with pytest.raises(MemNetConfigError) as err:
        dataclasses.replace(tiny_config, **change)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_registry_builds_every_model_with_same_interface():
    tokens = torch.randint(0, 30, (2, 12))
    for name in ("memnet", "transformer", "transformer-window", "lstm"):
        spec = MODELS[name]
        model = spec.build(spec.make_config(vocab_size=30, **({"window": 4} if name == "transformer-window" else {})))
        out = model(tokens, recorder=MemoryRecorder())
        assert out.logits.shape == (2, 12, 30), name


def test_ablations_remove_decay_and_erase_parameters(tiny_config):
    model = MemNet(dataclasses.replace(tiny_config, decay=False, erase=False))
    names = dict(model.named_parameters())
    assert not any("decay_logit" in n for n in names) and model.controller.erase is None
    out = model(torch.randint(0, 20, (1, 9)))
    assert out.logits.shape == (1, 9, 20)
    assert isinstance(MemNetConfig(), MemNetConfig)


def test_token_shift_encoder_is_causal(tiny_config):
    model = MemNet(dataclasses.replace(tiny_config, token_shift=True)).eval()
    tokens = torch.randint(0, 20, (1, 12))
    changed = tokens.clone()
    changed[0, 7] = (changed[0, 7] + 1) % 20
    a, b = model.encoder(tokens), model.encoder(changed)
    assert torch.equal(a[0, :7], b[0, :7])  # the past does not see the change
    assert not torch.equal(a[0, 8], b[0, 8])  # the next token sees its predecessor


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_traced_equals_untraced_on_cuda_bf16(tiny_config):
    from engine.device import autocast

    device = torch.device("cuda")
    model = MemNet(tiny_config).to(device).eval()
    tokens = torch.randint(0, 20, (2, 33), device=device)
    with torch.no_grad(), autocast(device):
        plain = model(tokens).logits
        rec = MemoryRecorder()
        traced = model(tokens, recorder=rec).logits
    assert torch.equal(plain, traced)
    assert rec.tables()["memory_events"].num_rows > 0
