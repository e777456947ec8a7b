"""kNN retrieval memory and graph memory: hand-computed pieces, causality, carried state, traces."""

import torch

from engine.cls.graph_memory import GraphMemory, adjacency, graph_convolution
from engine.cls.knn_memory import KNNMemory
from tracing.recorder import MemoryRecorder


def _identity_knn(d=2, k=1):
    mem = KNNMemory(d, k=k, capacity=8)
    with torch.no_grad():
        for W in (mem.W_q, mem.W_k, mem.W_v, mem.W_r):
            W.weight.copy_(torch.eye(d))
    return mem


def test_knn_picks_the_nearest_earlier_state_by_hand():
    mem = _identity_knn(k=1)
    h = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [0.9, 0.1]]])
    out, state = mem(h)
    assert torch.equal(out[0, 0], torch.zeros(2))  # nothing stored before step 0
    assert torch.allclose(out[0, 1], h[0, 0])  # only step 0 is earlier
    assert torch.allclose(out[0, 2], h[0, 0])  # (0.9, 0.1) . (1, 0) > (0.9, 0.1) . (0, 1)
    assert state["steps"].tolist() == [0, 1, 2]


def test_knn_fuses_top_k_by_softmax_and_carries_state():
    mem = _identity_knn(k=2)
    _, state = mem(torch.tensor([[[1.0, 0.0], [0.0, 1.0]]]))
    q = torch.tensor([[[2.0, 0.0]]])
    out, _ = mem(q, state, step0=2)
    w = torch.softmax(torch.tensor([2.0, 0.0]) / 2**0.5, 0)  # scores q.k / sqrt(d)
    assert torch.allclose(out[0, 0], w[0] * torch.tensor([1.0, 0.0]) + w[1] * torch.tensor([0.0, 1.0]))


def test_knn_trace_records_writes_and_neighbours():
    mem = _identity_knn(k=2)
    rec = MemoryRecorder()
    h = torch.randn(2, 5, 2)
    plain, _ = mem(h)
    traced, _ = mem(h, recorder=rec)
    assert torch.equal(plain, traced)
    ev = rec.tables()["memory_events"].to_pandas()
    assert (ev.op == "write").sum() == 10
    reads = ev[ev.op == "read"]
    assert len(reads) == 2 * (1 + 2 + 2 + 2)  # step 0 has no neighbour, step 1 one, then k = 2
    assert (reads.cell < reads.step).all()  # neighbours are earlier states
    assert reads.groupby(["batch", "step"]).weight.sum().round(5).eq(1.0).all()


def test_graph_adjacency_and_convolution_by_hand():
    n = torch.tensor([[[1.0, 0.0], [0.0, 2.0]]])
    W_e = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    E = adjacency(n, W_e)
    s = torch.sigmoid
    assert torch.allclose(E[0], torch.tensor([[s(torch.tensor(1.0)), 0.5], [0.5, 0.5]]))
    conv = graph_convolution(n, E, torch.eye(2) * 2)
    assert torch.allclose(conv[0, 0], 2 * (E[0, 0, 0] * n[0, 0] + E[0, 0, 1] * n[0, 1]))


def test_graph_memory_is_causal_and_carries_nodes():
    torch.manual_seed(0)
    mem = GraphMemory(4, capacity=6, chunk_size=3)
    torch.nn.init.normal_(mem.W_o.weight)
    h = torch.randn(1, 9, 4)
    out, state = mem(h)
    assert torch.equal(out[0, :3], torch.zeros(3, 4))  # the first chunk has no past graph
    h2 = h.clone()
    h2[0, 6:] = torch.randn(3, 4)  # change the last chunk: earlier outputs do not move
    out2, _ = mem(h2)
    assert torch.allclose(out[0, :6], out2[0, :6])
    assert not torch.allclose(out[0, 6:], out2[0, 6:])  # its own queries changed; it reads the past graph
    assert state["nodes"].shape == (1, 6, 4) and state["steps"].tolist() == [3, 4, 5, 6, 7, 8]
    # a second call reads the carried nodes
    out3, _ = mem(torch.randn(1, 2, 4), state, step0=9)
    assert out3.abs().sum() > 0


def test_graph_trace_records_node_writes_edges_and_reads():
    mem = GraphMemory(4, capacity=4, chunk_size=2, edges_traced=2)
    rec = MemoryRecorder()
    h = torch.randn(1, 6, 4)
    plain, _ = mem(h)
    traced, _ = mem(h, recorder=rec)
    assert torch.equal(plain, traced)
    ev = rec.tables()["memory_events"].to_pandas()
    assert (ev.op == "write").sum() == 6
    edges = ev[(ev.op == "read") & ev.other_cell.notna()]
    assert len(edges) > 0 and edges.weight.between(0, 1).all()
    reads = ev[(ev.op == "read") & ev.other_cell.isna()]
    assert reads.groupby("step").weight.sum().round(5).eq(1.0).all()  # attention over nodes sums to 1
