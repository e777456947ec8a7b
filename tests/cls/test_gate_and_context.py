"""Write gate and drifting context against hand-computed values; parallel context equals the recurrence."""

import math

import pytest
import torch

from engine.cls.config import CLSConfig, CLSConfigError
from engine.cls.context_drift import ContextDrift, check_lambda, context_drift_norm
from engine.cls.write_gate import WriteGate


def test_write_gate_by_hand():
    gate = WriteGate(2, 1)
    with torch.no_grad():
        gate.w_g.weight.copy_(torch.tensor([[1.0, -1.0, 2.0]]))
        gate.w_g.bias.fill_(0.5)
    h = torch.tensor([[[1.0, 2.0]]])
    c = torch.tensor([[[0.25]]])
    # w^T [h; c] + b = 1 - 2 + 0.5 + 0.5 = 0
    assert gate(h, c).item() == pytest.approx(0.5)
    h2 = torch.tensor([[[3.0, 0.0]]])  # 3 + 0.5 + 0.5 = 4
    assert gate(h2, c).item() == pytest.approx(1 / (1 + math.exp(-4.0)))


def test_context_drift_by_hand_and_shift():
    drift = ContextDrift(1, 1, lam=0.5)
    with torch.no_grad():
        drift.U.weight.fill_(2.0)
        drift.W_c.weight.fill_(10.0)
    h = torch.tensor([[[1.0], [0.0], [4.0]]])
    c, h_tilde = drift(h)
    # c_0 = 2, c_1 = 0.5 * 2 = 1, c_2 = 0.5 * 1 + 8 = 8.5
    assert torch.allclose(c[0, :, 0], torch.tensor([2.0, 1.0, 8.5]))
    # h~_t = h_t + W_c c_{t-1}: (1 + 0, 0 + 20, 4 + 10)
    assert torch.allclose(h_tilde[0, :, 0], torch.tensor([1.0, 20.0, 14.0]))
    assert torch.allclose(context_drift_norm(c)[0], torch.tensor([2.0, 1.0, 7.5]))


def test_parallel_context_equals_recurrence_with_carried_state():
    drift = ContextDrift(5, 3, lam=0.8)
    h = torch.randn(2, 9, 5)
    c_prev = torch.randn(2, 3)
    c, _ = drift(h, c_prev)
    state = c_prev
    for t in range(9):
        state = drift.step(h[:, t], state)
        assert torch.allclose(c[:, t], state, atol=1e-5)


@pytest.mark.parametrize("lam", [0.0, 1.0, -0.1, 1.5])
def test_lambda_out_of_range_is_refused(lam):
    with pytest.raises(CLSConfigError, match="lambda"):
        check_lambda(lam)
    with pytest.raises(CLSConfigError, match="lambda"):
        CLSConfig(context_lambda=lam)


@pytest.mark.parametrize("eta", [0.0, -1.0, 1.01])
def test_eta_out_of_range_is_refused(eta):
    with pytest.raises(CLSConfigError, match=r"eta must be in \(0, 1\]"):
        CLSConfig(eta=eta)


def test_other_config_errors_are_one_line():
    for kwargs in ({"rule": "oja"}, {"d_model": 30, "n_heads": 4}, {"knn_layers": (5,)}, {"gate_bias_init": float("nan")}):
        with pytest.raises(CLSConfigError) as err:
            CLSConfig(**kwargs)
        assert "\n" not in str(err.value)
    with pytest.raises(CLSConfigError, match="unknown CLS config key"):
        CLSConfig.from_dict({"d_model": 64, "slots": 3})


@pytest.mark.parametrize("bias", [0.0, 3.0])
def test_gate_bias_init_sets_the_initial_write_strength(bias):
    """``gate_bias_init`` is b_g at initialisation: with w_g = 0 every write has g_t = sigmoid(b_g), so
    beta_t = sigmoid(b_g) * eta; the default 0 keeps the half-open gate of earlier checkpoints."""
    from engine.cls.model import CLSTransformer

    cfg = CLSConfig(vocab_size=16, d_model=8, n_heads=1, n_layers=2, d_ff=16, eta=1.0, gate_bias_init=bias)
    assert CLSConfig(vocab_size=16, d_model=8, n_heads=1).gate_bias_init == 0.0
    model = CLSTransformer(cfg)
    gates = []
    for attn in model.fast_layers():
        assert attn.gate.w_g.bias.item() == bias
        with torch.no_grad():
            attn.gate.w_g.weight.zero_()
        attn.gate.register_forward_hook(lambda module, args, g: gates.append(g))
    model(torch.randint(0, 16, (2, 5)))
    assert len(gates) == 2
    for g in gates:
        assert g.shape == (2, 5)
        assert torch.allclose(g, torch.full_like(g, 1 / (1 + math.exp(-bias))))
