"""The CLS Transformer: tracing never changes outputs, what a trace holds, causality, episodes."""

import pytest
import torch

from engine.cls.config import CLSConfig
from engine.cls.model import CLSTransformer
from tracing.recorder import MemoryRecorder

TINY = dict(vocab_size=20, d_model=16, n_heads=2, n_layers=2, d_ff=32, chunk_size=4, svd_every=4)


@pytest.mark.parametrize(
    "extra",
    [
        {"rule": "hebbian"},
        {"rule": "delta"},
        {"rule": "hyper", "hyper_rank": 2},
        {"rule": "delta", "knn_layers": (0,), "graph_layers": (1,)},
        {"rule": "delta", "use_gate": False, "use_context": False, "attn_window": 3},
    ],
)
def test_tracing_never_changes_outputs(extra):
    torch.manual_seed(0)
    model = CLSTransformer(CLSConfig(**TINY, **extra)).eval()
    tokens = torch.randint(0, 20, (2, 13))
    plain = model(tokens)
    rec = MemoryRecorder()
    traced = model(tokens, recorder=rec)
    assert torch.equal(plain.logits, traced.logits)
    for a, b in zip(plain.state, traced.state):
        assert torch.equal(a["attn"]["F"], b["attn"]["F"])
    assert rec.tables()["memory_events"].num_rows > 0


def test_trace_holds_writes_reads_and_metrics():
    torch.manual_seed(0)
    cfg = CLSConfig(**TINY, rule="delta")
    model = CLSTransformer(cfg).eval()
    B, T = 2, 12
    rec = MemoryRecorder()
    model(torch.randint(0, 20, (B, T)), recorder=rec, step_offset=100)
    tables = rec.tables()
    ev = tables["memory_events"].to_pandas()
    fw = ev[ev.memory == "fast_weight"]
    writes = fw[fw.op == "write"]
    assert len(writes) == B * cfg.n_heads * T * cfg.n_layers  # one cell per rank-1 write
    assert sorted(writes.cell.unique()) == list(range(100, 100 + T))  # cell = write index = step
    assert writes.gate.between(0, 1).all() and (writes.weight > 0).all()
    reads = fw[fw.op == "read"]
    assert (reads.cell <= reads.step).all()  # a read draws on earlier writes (or its own)
    assert len(reads) == B * cfg.n_heads * cfg.n_layers * sum(min(4, t + 1) for t in range(T))
    m = tables["metrics"].to_pandas()
    assert set(m.name) >= {"fast_weight_norm", "context_drift", "write_gate", "eta", "fast_weight_effective_rank", "fast_weight_singular_value"}
    assert len(m[(m.name == "fast_weight_norm") & (m.series == "L0")]) == T
    ranks = m[m.name == "fast_weight_effective_rank"]
    assert sorted(ranks.step.unique()) == [103, 107, 111]  # every svd_every = 4 steps
    assert ranks.value.between(1.0, cfg.head_dim).all()
    svs = m[(m.name == "fast_weight_singular_value") & (m.series == "L0H0")]
    assert len(svs) == 3 * cfg.head_dim and sorted(svs.x.unique()) == list(range(cfg.head_dim))
    for _, per_step in svs.groupby("step"):  # singular values come sorted, largest first
        assert (per_step.sort_values("x").value.diff().dropna() <= 1e-6).all()


def test_read_contributions_match_the_fast_weight_read():
    """The recorded contribution of write s to the read at t is (q_t . k_s) ||u_s||: with one layer,
    one head and a reader that knows k and u, the top recorded cell is the biggest |q . k| ||u||."""
    torch.manual_seed(1)
    cfg = CLSConfig(vocab_size=10, d_model=8, n_heads=1, n_layers=1, d_ff=16, rule="hebbian", use_context=False, chunk_size=8)
    model = CLSTransformer(cfg).eval()
    tokens = torch.randint(0, 10, (1, 6))
    rec = MemoryRecorder()
    model(tokens, recorder=rec)
    ev = rec.tables()["memory_events"].to_pandas()
    writes = ev[(ev.op == "write")].set_index("cell")
    reads = ev[(ev.op == "read") & (ev.step == 5)]
    attn = model.blocks[0].attn
    h = model.blocks[0].ln_1(model.embed(tokens) + model.pos(torch.arange(6)))
    q = torch.nn.functional.normalize(attn.W_QKV(h)[..., :8], dim=-1)[0]
    k = torch.nn.functional.normalize(attn.W_K_fast(h), dim=-1)[0]
    expected = (k @ q[5]) * torch.tensor(writes.loc[range(6), "weight"].values)
    top = expected.abs().topk(4).indices.tolist()
    assert sorted(reads.cell.tolist()) == sorted(top)
    got = dict(zip(reads.cell, reads.weight))
    for s in top:
        assert got[s] == pytest.approx(expected[s].item(), rel=1e-4, abs=1e-6)


def test_causal_and_fast_weights_carry_across_episodes():
    torch.manual_seed(0)
    model = CLSTransformer(CLSConfig(**TINY, rule="delta")).eval()
    a = torch.randint(0, 20, (1, 10))
    b = a.clone()
    b[0, 7:] = (b[0, 7:] + 1) % 20
    assert torch.allclose(model(a).logits[:, :7], model(b).logits[:, :7])
    first = model(a[:, :5])
    with_memory = model(a[:, 5:], state=first.state, step_offset=5)
    fresh = model(a[:, 5:])
    assert not torch.allclose(with_memory.logits, fresh.logits)  # the episode's F and c carried over
    assert with_memory.state[0]["attn"]["F"].shape == (1, 2, 8, 8)


def test_without_fast_weights_it_is_a_plain_transformer():
    model = CLSTransformer(CLSConfig(**TINY, fast_weights=False))
    names = [n for n, _ in model.named_parameters()]
    assert not any("fast" in n or "gate" in n or "drift" in n for n in names)
    assert model(torch.randint(0, 20, (2, 5))).logits.shape == (2, 5, 20)


def test_too_long_input_is_refused():
    model = CLSTransformer(CLSConfig(**{**TINY, "max_len": 8}))
    with pytest.raises(ValueError, match="longer than max_len"):
        model(torch.zeros(1, 9, dtype=torch.long))


def test_full_precision_ignores_bf16_autocast_and_read_norm_bounds_the_read():
    torch.manual_seed(0)
    model = CLSTransformer(CLSConfig(**TINY, full_precision=True)).eval()
    tokens = torch.randint(0, 20, (2, 9))
    plain = model(tokens).logits
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside = model(tokens).logits
    assert inside.dtype == torch.float32 and torch.equal(plain, inside)
    attn = model.blocks[0].attn
    with torch.no_grad():
        attn.W_V_fast.weight.mul_(1000.0)  # huge values: the normalised read does not move
    assert torch.allclose(model(tokens).logits, plain, atol=1e-3)


def test_ordinary_attention_never_runs_on_cudnn(monkeypatch):
    """cuDNN's attention gave non-finite bf16 gradients on an H200 (docs/results/cls.md): every attention
    call of the model runs with cuDNN attention switched off, the other kernels allowed."""
    import engine.cls.augmented_attention as aug

    seen = []
    original = aug.F.scaled_dot_product_attention

    def spy(*args, **kwargs):
        seen.append((torch.backends.cuda.cudnn_sdp_enabled(), torch.backends.cuda.mem_efficient_sdp_enabled(), torch.backends.cuda.math_sdp_enabled()))
        return original(*args, **kwargs)

    monkeypatch.setattr(aug.F, "scaled_dot_product_attention", spy)
    model = CLSTransformer(CLSConfig(**TINY, fast_layers=(1,), attn_window=2))
    model(torch.randint(0, 20, (2, 9))).logits.sum().backward()
    assert seen == [(False, True, True)] * 2  # both layers, with and without fast weights
    assert torch.backends.cuda.cudnn_sdp_enabled()  # restored outside the model


def test_ungated_hebbian_model_does_not_depend_on_eta():
    """Without a gate the Hebbian F_t = eta sum_s k_s v_s^T only scales with eta, and the RMS-normalised
    read removes the scale: the same weights give the same logits for eta 0.5 and 1 (docs/results/cls.md
    compares an eta-0.5 Hebbian model with eta-1 delta models on this ground). Not so for the delta rule."""
    torch.manual_seed(0)
    tokens = torch.randint(0, 20, (2, 12))
    logits = {}
    for rule in ("hebbian", "delta"):
        half = CLSTransformer(CLSConfig(**TINY, rule=rule, use_gate=False, eta=0.5)).eval()
        full = CLSTransformer(CLSConfig(**TINY, rule=rule, use_gate=False, eta=1.0)).eval()
        with torch.no_grad():
            for attn in half.fast_layers():
                attn.drift.W_c.weight.normal_(0, 0.1)  # the context path active (it starts at zero)
            full.load_state_dict(half.state_dict())
            logits[rule] = (half(tokens).logits, full(tokens).logits)
    assert torch.allclose(*logits["hebbian"], atol=1e-4)
    assert not torch.allclose(*logits["delta"], atol=1e-3)
