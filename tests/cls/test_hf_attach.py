"""The fast-weight path hooked onto tiny random GPT-2 and Llama models (built locally, no downloads)."""

import pytest
import torch
from transformers import BertConfig, BertModel, GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

from engine.cls.config import CLSConfigError
from engine.cls.hf_attach import FastWeightAttachment, UnsupportedArchitectureError
from tracing.recorder import MemoryRecorder


def _gpt2():
    return GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=32, n_head=2, vocab_size=50, n_positions=64, bos_token_id=0, eos_token_id=0)).eval()


def _llama():
    cfg = LlamaConfig(num_hidden_layers=2, hidden_size=32, num_attention_heads=2, num_key_value_heads=2, intermediate_size=64, vocab_size=50, bos_token_id=0, eos_token_id=0, pad_token_id=0)
    return LlamaForCausalLM(cfg).eval()


@pytest.fixture(params=["gpt2", "llama"])
def host(request):
    torch.manual_seed(0)
    return _gpt2() if request.param == "gpt2" else _llama()


def _activate(att):
    for path in att.paths:
        torch.nn.init.normal_(path.W_out.weight, std=0.2)


def test_unchanged_at_init_changed_when_active_restored_when_detached(host):
    x = torch.randint(0, 50, (2, 9))
    base = host(x).logits
    att = FastWeightAttachment(host, rule="delta")
    assert torch.equal(host(x).logits, base)  # W_out = 0 at init
    _activate(att)
    att.reset()
    assert not torch.allclose(host(x).logits, base)
    assert att.step == 9
    att.detach()
    assert torch.equal(host(x).logits, base)


def test_tracing_does_not_change_outputs_and_records_cells(host):
    att = FastWeightAttachment(host, rule="hebbian", layers=[1])
    _activate(att)
    x = torch.randint(0, 50, (1, 7))
    plain = host(x).logits
    att.reset()
    rec = MemoryRecorder()
    with att.tracing(rec):
        traced = host(x).logits
    assert torch.equal(plain, traced)
    ev = rec.tables()["memory_events"].to_pandas()
    assert set(ev.layer) == {1} and (ev.op == "write").sum() == 7 * 2  # 7 steps x 2 heads


def test_memory_persists_across_calls_and_generation(host):
    att = FastWeightAttachment(host)
    _activate(att)
    x = torch.randint(0, 50, (1, 6))
    host(x)
    assert att.step == 6 and att.states[0]["F"].abs().sum() > 0
    out = host.generate(x, max_new_tokens=3, do_sample=False)
    assert out.shape == (1, 9) and att.step == 6 + 6 + 2  # prompt again, then one token per new step
    att.reset()
    assert att.step == 0 and att.states[0] == {}


def test_only_the_path_is_trained_when_the_host_is_frozen(host):
    for p in host.parameters():
        p.requires_grad_(False)
    att = FastWeightAttachment(host)
    _activate(att)
    loss = host(torch.randint(0, 50, (2, 8))).logits.pow(2).mean()
    loss.backward()
    assert all(p.grad is None for p in host.parameters() if p.requires_grad is False)
    assert att.paths[0].W_K_fast.weight.grad is not None and att.paths[0].W_K_fast.weight.grad.abs().sum() > 0


def test_unsupported_architecture_is_refused_naming_the_supported():
    bert = BertModel(BertConfig(num_hidden_layers=1, hidden_size=32, num_attention_heads=2, intermediate_size=32))
    with pytest.raises(UnsupportedArchitectureError, match="'bert'.*supported: gpt2, llama"):
        FastWeightAttachment(bert)


@pytest.mark.parametrize("kwargs,match", [({"eta": 0.0}, "eta"), ({"context_lambda": 1.0}, "lambda"), ({"rule": "hyper"}, "hebbian and delta"), ({"layers": [7]}, "outside")])
def test_bad_settings_are_refused(kwargs, match):
    with pytest.raises(CLSConfigError, match=match):
        FastWeightAttachment(_gpt2(), **kwargs)


def test_the_path_alone_is_trainable_on_a_frozen_host():
    """Only the path's parameters move, and they alone fit an episode (the host's loss on it drops)."""
    torch.manual_seed(0)
    host = _gpt2()
    for p in host.parameters():
        p.requires_grad_(False)
    frozen = {n: p.clone() for n, p in host.named_parameters()}
    att = FastWeightAttachment(host, rule="delta")
    opt = torch.optim.Adam(att.parameters(), lr=1e-2)
    first = torch.randint(0, 50, (4, 8), generator=torch.Generator().manual_seed(0))
    x = torch.cat([first, first], 1)  # the second half repeats the first

    def episode_loss():
        att.reset()
        logits = host(x).logits[:, 8:-1]
        return torch.nn.functional.cross_entropy(logits.reshape(-1, 50), x[:, 9:].reshape(-1))

    before = episode_loss().item()
    for _ in range(40):
        loss = episode_loss()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert episode_loss().item() < before - 0.3
    assert all(torch.equal(p, frozen[n]) for n, p in host.named_parameters())


def test_save_and_load_round_trip_and_refuse_another_host(tmp_path):
    from engine.cls.hf_attach import AttachmentFileError, load_attachment, save_attachment

    torch.manual_seed(0)
    host = _gpt2()
    att = FastWeightAttachment(host, rule="hebbian", eta=0.25, layers=[0])
    _activate(att)
    x = torch.randint(0, 50, (1, 6))
    att.reset()
    expected = host(x).logits
    save_attachment(att, tmp_path / "fw")
    att.detach()
    loaded = load_attachment(host, tmp_path / "fw")
    assert loaded.settings["rule"] == "hebbian" and loaded.layers == [0]
    assert torch.equal(host(x).logits, expected)
    loaded.detach()
    with pytest.raises(AttachmentFileError, match="model_type='gpt2', this model has model_type='llama'"):
        load_attachment(_llama(), tmp_path / "fw")
    (tmp_path / "fw" / "fast_weights.safetensors").write_bytes(b"not safetensors at all")
    with pytest.raises(AttachmentFileError, match="unreadable"):
        load_attachment(host, tmp_path / "fw")
    with pytest.raises(AttachmentFileError, match="no saved"):
        load_attachment(host, tmp_path / "missing")
