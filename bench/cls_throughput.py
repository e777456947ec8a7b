"""Throughput of the CLS fast-weight layer against the same Transformer without it, in one process.

Prints (and with ``--json`` writes) tokens/s of a training step (forward + backward + AdamW) and of
a forward pass for: the plain Transformer (``fast_weights=False``), the CLS Transformer with the
Hebbian rule, with the delta rule, and with the delta rule plus kNN and graph memories; each as a
ratio to the plain model. A second table times the fast-weight kernel alone: the chunked (parallel)
form against the step-by-step recurrence. bf16 autocast on CUDA (the trainer's setting), fp32 on CPU.

    python bench/cls_throughput.py --device cuda --json bench-cls.json
    python bench/cls_throughput.py --device cpu --tiny          # a quick CPU dry run
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Callable

import torch

from engine.cls.config import CLSConfig
from engine.cls.fast_weights import fast_weight_chunked, fast_weight_recurrent
from engine.cls.model import CLSTransformer
from engine.device import autocast, describe


def timed(fn: Callable[[], None], device: torch.device, repeats: int, warmup: int = 3) -> float:
    """Median seconds per call of ``fn`` (synchronising CUDA around each timed call)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2]


def model_rows(base: dict, batch: int, seq: int, device: torch.device, repeats: int) -> list[dict]:
    variants = {
        "transformer (no fast weights)": {"fast_weights": False},
        "cls hebbian": {"rule": "hebbian"},
        "cls delta": {"rule": "delta"},
        "cls delta + kNN + graph (last layer)": {"rule": "delta", "knn_layers": (base["n_layers"] - 1,), "graph_layers": (base["n_layers"] - 1,)},
    }
    tokens = torch.randint(0, base["vocab_size"], (batch, seq), device=device)
    rows = []
    for name, extra in variants.items():
        torch.manual_seed(0)
        model = CLSTransformer(CLSConfig(**base, **extra)).to(device)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

        def train_step() -> None:
            with autocast(device):
                logits = model(tokens).logits
            loss = logits.float().logsumexp(-1).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        def forward() -> None:
            with torch.no_grad(), autocast(device):
                model(tokens)

        model.train()
        t_train = timed(train_step, device, repeats)
        model.eval()
        t_fwd = timed(forward, device, repeats)
        rows.append({"model": name, "train_tokens_per_s": batch * seq / t_train, "forward_tokens_per_s": batch * seq / t_fwd})
        del model, opt
    plain = rows[0]
    for row in rows:
        row["train_ratio"] = row["train_tokens_per_s"] / plain["train_tokens_per_s"]
        row["forward_ratio"] = row["forward_tokens_per_s"] / plain["forward_tokens_per_s"]
    return rows


def kernel_rows(batch: int, heads: int, seq: int, dim: int, device: torch.device, repeats: int) -> list[dict]:
    g = torch.Generator(device="cpu").manual_seed(0)
    q, k = (torch.nn.functional.normalize(torch.randn(batch, heads, seq, dim, generator=g), dim=-1).to(device) for _ in range(2))
    v = torch.randn(batch, heads, seq, dim, generator=g).to(device)
    beta = torch.rand(batch, heads, seq, generator=g).to(device) * 0.5
    rows = []
    for rule in ("hebbian", "delta"):
        t_rec = timed(lambda: fast_weight_recurrent(q, k, v, beta, rule), device, max(3, repeats // 3), warmup=1)
        for chunk in (16, 64, 128):
            t_chunk = timed(lambda: fast_weight_chunked(q, k, v, beta, rule, chunk), device, repeats)
            rows.append({"rule": rule, "chunk": chunk, "chunked_tokens_per_s": batch * seq / t_chunk, "recurrent_tokens_per_s": batch * seq / t_rec, "speedup": t_rec / t_chunk})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--tiny", action="store_true", help="small sizes for a CPU dry run")
    parser.add_argument("--json", default=None, help="write the results to this JSON file")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    device = torch.device(args.device)
    if args.tiny:
        base = dict(vocab_size=256, d_model=64, n_heads=2, n_layers=2, d_ff=128, max_len=256, chunk_size=32)
        batch, seq, repeats = 2, 128, 3
    else:
        base = dict(vocab_size=8192, d_model=512, n_heads=8, n_layers=6, d_ff=2048, max_len=2048, chunk_size=64)
        batch, seq, repeats = 16, 1024, args.repeats
    models = model_rows(base, batch, seq, device, repeats)
    kernels = kernel_rows(batch, base["n_heads"], seq, base["d_model"] // base["n_heads"], device, repeats)
    result = {"device": describe(device), "torch": torch.__version__, "config": base, "batch": batch, "seq": seq, "models": models, "kernels": kernels}
    print(f"device: {result['device']}  batch {batch} x seq {seq}  d_model {base['d_model']} heads {base['n_heads']} layers {base['n_layers']}")
    print(f"{'model':40s} {'train tok/s':>12s} {'ratio':>6s} {'fwd tok/s':>12s} {'ratio':>6s}")
    for r in models:
        print(f"{r['model']:40s} {r['train_tokens_per_s']:12.0f} {r['train_ratio']:6.2f} {r['forward_tokens_per_s']:12.0f} {r['forward_ratio']:6.2f}")
    print(f"{'kernel':18s} {'chunk':>5s} {'chunked tok/s':>14s} {'recurrent tok/s':>16s} {'speedup':>8s}")
    for r in kernels:
        print(f"{r['rule']:18s} {r['chunk']:5d} {r['chunked_tokens_per_s']:14.0f} {r['recurrent_tokens_per_s']:16.0f} {r['speedup']:8.1f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2)


if __name__ == "__main__":
    main()
