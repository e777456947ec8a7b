"""The same equivalences on a CUDA GPU (skipped where there is none)."""

import pytest
import torch

from engine.cls.config import CLSConfig
from engine.cls.fast_weights import fast_weight_chunked, fast_weight_recurrent
from engine.cls.model import CLSTransformer
from tracing.recorder import MemoryRecorder

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


@pytest.mark.parametrize("rule", ["hebbian", "delta"])
def test_chunked_equals_step_by_step_on_cuda(rule):
    g = torch.Generator().manual_seed(0)
    q, k = (torch.nn.functional.normalize(torch.randn(2, 2, 33, 16, generator=g), dim=-1).cuda() for _ in range(2))
    v = torch.randn(2, 2, 33, 16, generator=g).cuda()
    beta = torch.rand(2, 2, 33, generator=g).cuda()
    ref = fast_weight_recurrent(q, k, v, beta, rule)
    par = fast_weight_chunked(q, k, v, beta, rule, 8)
    assert torch.allclose(par.read, ref.read, atol=1e-4) and torch.allclose(par.state, ref.state, atol=1e-4)


def test_tracing_never_changes_outputs_on_cuda():
    torch.manual_seed(0)
    model = CLSTransformer(CLSConfig(vocab_size=20, d_model=32, n_heads=2, n_layers=2, d_ff=64, knn_layers=(1,), graph_layers=(1,))).cuda().eval()
    tokens = torch.randint(0, 20, (2, 40), device="cuda")
    plain = model(tokens).logits
    rec = MemoryRecorder()
    traced = model(tokens, recorder=rec).logits
    assert torch.equal(plain, traced)
    assert rec.tables()["memory_events"].num_rows > 0
