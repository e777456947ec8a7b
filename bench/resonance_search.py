"""Time of one resonance search: the current distribution against ``--moments`` stored signatures.

Baseline: the bank's plain torch path (``sparse_vs_dense``, int64 ids, fp32 ``q``, then top-k).
Fast: :func:`engine.moment.divergence.hellinger_search` on int32 ids and fp16 ``sqrt q``
(half the bytes), compiled with ``torch.compile`` so gather, product and sum fuse into one kernel.
Triton (CUDA only): :func:`engine.moment.search_kernel.triton_hellinger_search`, one fused kernel.
All return the same best moment (checked). Printed: median milliseconds per search and the ratios.

    python bench/resonance_search.py --device cuda --moments 1000000 --k 32
    python bench/resonance_search.py --device cpu --moments 20000 --no-compile    # smoke run
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from engine.moment.divergence import hellinger_search, sparse_vs_dense


def timed(fn, device: torch.device, iters: int) -> float:
    """Median milliseconds of ``fn()`` over ``iters`` calls (CUDA events on a GPU)."""
    for _ in range(3):
        fn()
    times = []
    for _ in range(iters):
        if device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            torch.cuda.synchronize()
            times.append(start.elapsed_time(end))
        else:
            t = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--moments", type=int, default=1_000_000)
    parser.add_argument("--k", type=int, default=32)
    parser.add_argument("--vocab", type=int, default=50257)
    parser.add_argument("--iters", type=int, default=50)
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    device = torch.device(args.device)
    gen = torch.Generator(device=device).manual_seed(0)
    ids = torch.randint(0, args.vocab, (args.moments, args.k), device=device, generator=gen)
    q = torch.rand(args.moments, args.k, device=device, generator=gen).softmax(-1)
    p = torch.randn(1, args.vocab, device=device, generator=gen).mul(3).softmax(-1)
    planted = args.moments // 2  # one stored moment equals p's own top-k: the search must find it
    top = torch.topk(p, args.k, -1)
    ids[planted], q[planted] = top.indices[0], top.values[0] / top.values[0].sum()
    ids32, sqrt_q16 = ids.to(torch.int32), q.sqrt().to(torch.float16)

    def plain():
        return torch.topk(sparse_vs_dense(ids, q, p, "hellinger"), 1, dim=-1, largest=False)

    fast_fn = hellinger_search if args.no_compile else torch.compile(hellinger_search, dynamic=False)

    def fast():
        return fast_fn(ids32, sqrt_q16, p, 1)

    best_plain = int(plain()[1][0, 0])
    best_fast = int(fast()[1][0, 0])
    result = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu", "moments": args.moments, "k": args.k,
              "vocab": args.vocab, "plain_ms": round(timed(plain, device, args.iters), 4), "fast_ms": round(timed(fast, device, args.iters), 4),
              "compiled": not args.no_compile, "same_best": best_plain == best_fast == planted}
    result["speedup"] = round(result["plain_ms"] / result["fast_ms"], 2)
    if device.type == "cuda":
        from engine.moment.search_kernel import triton_hellinger_search

        def fused():
            return triton_hellinger_search(ids32, sqrt_q16, p)

        result["triton_ms"] = round(timed(fused, device, args.iters), 4)
        result["triton_same_best"] = int(fused()[1][0, 0]) == planted
        result["triton_speedup"] = round(result["plain_ms"] / result["triton_ms"], 2)
    print(json.dumps(result), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
