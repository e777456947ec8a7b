"""Replay consolidation, EWC and SI penalties against hand-computed values."""

import pytest
import torch
from torch import nn

from engine.cls.config import CLSConfig
from engine.cls.consolidation import ReplayBuffer, replay_loss
from engine.cls.ewc import EWC
from engine.cls.model import CLSTransformer
from engine.cls.synaptic_intelligence import SynapticIntelligence


def test_replay_loss_by_hand():
    W_Q = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    ffn = nn.Identity()
    h = torch.tensor([[1.0, 1.0]])
    k = torch.tensor([[0.0, 2.0]])
    v = torch.tensor([[1.0, 3.0]])
    # ||(1, 2) - (0, 2)||^2 + ||(1, 1) - (1, 3)||^2 = 1 + 4
    assert replay_loss(W_Q, None, ffn, h, k, v).item() == pytest.approx(5.0)
    assert replay_loss(W_Q, torch.tensor([-1.0, 0.0]), ffn, h, k, v).item() == pytest.approx(4.0)


def test_buffer_keeps_only_high_gate_writes_fifo():
    buf = ReplayBuffer(capacity=3, threshold=0.5)
    h = torch.arange(8.0).view(1, 4, 2)
    g = torch.tensor([[0.9, 0.1, 0.6, 0.5]])
    assert buf.add(0, h, h, h, g) == 3
    assert buf.store[0][0][:, 0].tolist() == [0.0, 4.0, 6.0]
    buf.add(0, h[:, :1], h[:, :1], h[:, :1], g[:, :1])
    assert buf.store[0][0][:, 0].tolist() == [4.0, 6.0, 0.0] and len(buf) == 3


def test_model_replay_aux_loss_trains_slow_weights_toward_stored_pairs():
    torch.manual_seed(0)
    model = CLSTransformer(CLSConfig(vocab_size=12, d_model=16, n_heads=2, n_layers=1, d_ff=32))
    buf = ReplayBuffer(threshold=0.0, sample_size=64)
    model.consolidation = buf
    model.train()
    out = model(torch.randint(0, 12, (2, 10)))
    assert len(buf) == 20 and "replay" in out.aux_losses  # collected this call's writes, then replayed them
    buf.frozen = True
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = None
    for _ in range(30):
        loss = model(torch.randint(0, 12, (2, 10))).aux_losses["replay"]
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert len(buf) == 20  # frozen: nothing added
    assert loss.item() < 0.5 * first
    model.eval()
    assert model(torch.randint(0, 12, (2, 10))).aux_losses == {}


def _quadratic_model():
    model = nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, 2.0]]))
    return model


def test_ewc_fisher_and_penalty_by_hand():
    model = _quadratic_model()
    x = torch.tensor([[1.0, 3.0]])
    ewc = EWC(strength=2.0)
    # loss = w . x -> grad = x; Fisher = x^2 = (1, 9) averaged over two identical batches
    ewc.consolidate(model, [lambda: model(x).sum(), lambda: model(x).sum()])
    assert torch.allclose(ewc.fisher["weight"], torch.tensor([[1.0, 9.0]]))
    with torch.no_grad():
        model.weight += torch.tensor([[1.0, 1.0]])
    # (2 / 2) * (1 * 1 + 9 * 1) = 10
    assert ewc.penalty(model).item() == pytest.approx(10.0)


def test_si_path_integral_and_penalty_by_hand():
    model = _quadratic_model()
    si = SynapticIntelligence(model, strength=1.0, xi=1.0)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    x = torch.tensor([[1.0, 2.0]])
    for _ in range(2):  # loss = w . x: grad x, step -0.5 x each time
        opt.zero_grad()
        model(x).sum().backward()  # the gradient hook remembers (g, theta)
        opt.step()
    si.paused = True
    opt.zero_grad()
    (model(x).sum() * 100).backward()  # e.g. EWC's Fisher pass: not counted
    si.paused = False
    # omega = sum -g * dtheta = 2 * x * 0.5 x = x^2 = (1, 4) once the last step settles; Delta = -x
    si.consolidate(model)
    assert torch.allclose(si.importance["weight"], torch.tensor([[1.0 / 2.0, 4.0 / 5.0]]))
    with torch.no_grad():
        model.weight += 1.0
    assert si.penalty(model).item() == pytest.approx(0.5 + 0.8)


def test_penalties_attach_to_the_model_as_aux_losses():
    model = CLSTransformer(CLSConfig(vocab_size=12, d_model=16, n_heads=2, n_layers=1, d_ff=32))
    tokens = torch.randint(0, 12, (2, 6))
    ewc = EWC(strength=1.0)
    ewc.consolidate(model, [lambda: model(tokens).logits.logsumexp(-1).mean()])
    si = SynapticIntelligence(model, strength=1.0)
    si.consolidate(model)
    model.penalties = [ewc, si]
    model.train()
    aux = model(tokens).aux_losses
    assert aux["ewc"].item() == 0.0 and aux["si"].item() == 0.0  # at the anchor
    with torch.no_grad():
        model.embed.weight.add_(0.1)
    aux = model(tokens).aux_losses
    assert aux["ewc"].item() > 0.0
    aux["ewc"].backward()
    assert model.embed.weight.grad is not None


def test_trainer_consolidates_at_each_continual_task_end(tmp_path, monkeypatch):
    """Through the shared trainer: EWC gets a Fisher and an anchor, SI importances, replay an archive."""
    from engine.training.config import build_config
    from engine.training.trainer import train

    calls = []
    original = CLSTransformer.end_task

    def spy(self, make_batch, fisher_batches=4):
        original(self, make_batch, fisher_batches)
        calls.append(self)

    monkeypatch.setattr(CLSTransformer, "end_task", spy)
    overrides = [
        "model.d_model=16", "model.n_heads=2", "model.n_layers=1", "model.d_ff=32", "model.replay_weight=1.0",
        "model.ewc_strength=10", "model.si_strength=1.0", "task.n_tasks=2", "task.max_distance=4",
        "steps=3", "batch_size=4", "device=cpu", f"out={tmp_path / 'ckpt'}", "eval_batches=1",
    ]
    result = train(build_config({"model": "cls", "task": "continual"}, overrides=overrides), progress=False, log=lambda _: None)
    assert len(calls) == 2 and len(result.metrics["forgetting"]) == 2
    model = calls[-1]
    ewc, si = model.penalties
    assert ewc.fisher and all(torch.isfinite(f).all() for f in ewc.fisher.values())
    assert si.importance and any(v.sum() > 0 for v in si.importance.values())
    assert model.consolidation.archive and model.consolidation.store == {}
