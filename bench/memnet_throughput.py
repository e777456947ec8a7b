"""MemNet training throughput (tokens/s): the vectorised chunked memory against the naive
step-by-step reference of the same memory (engine/memnet/reference.py), side by side in one process.

Reference config: batch 64, 1024 slots, slot dim 256, 4 memory heads, top-k 8 (d_model 256, 2 layers),
bf16 autocast on CUDA. Each variant runs a few full training steps (forward, backward, AdamW) on
the recall task; the naive variant replaces the bank's forward by the token-by-token, head-by-head
loop. Prints a table and writes JSON (``--out``).

    python bench/memnet_throughput.py                       # GPU reference config
    python bench/memnet_throughput.py --device cpu --tiny   # CPU smoke run
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import torch

from engine.device import autocast, describe, pick_device
from engine.memnet.bank import MemoryStats, MultiHeadMemoryBank
from engine.memnet.config import MemNetConfig
from engine.memnet.model import MemNet
from engine.memnet.reference import naive_memory
from engine.training.trainer import task_loss


class NaiveBank(MultiHeadMemoryBank):
    """The bank with its forward replaced by the step-by-step reference."""

    def forward(self, io, state, record=False):
        reads, new_state = naive_memory(self, io, state)
        zero = torch.zeros((), device=io.read_key.device)
        return reads, new_state, MemoryStats(torch.zeros(self.config.n_slots, device=zero.device), zero), []


def build(config: MemNetConfig, naive: bool, device: torch.device) -> MemNet:
    model = MemNet(config)
    if naive:
        state = model.memory.state_dict()
        model.memory = NaiveBank(config)
        model.memory.load_state_dict(state)
    return model.to(device).train()


def measure(config: MemNetConfig, naive: bool, batch: int, seq_len: int, steps: int, device: torch.device) -> dict:
    torch.manual_seed(0)
    model = build(config, naive, device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    tokens = torch.randint(0, config.vocab_size, (batch, seq_len), device=device)
    targets = torch.randint(0, config.vocab_size, (batch, seq_len), device=device)

    def step() -> None:
        with autocast(device):
            out = model(tokens)
        loss = task_loss(out.logits, targets) + sum(out.aux_losses.values())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    try:
        step()  # warm-up
        if device.type == "cuda":
            torch.cuda.synchronize()
        began = time.perf_counter()
        for _ in range(steps):
            step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = (time.perf_counter() - began) / steps
    except torch.OutOfMemoryError:
        del model, optimizer
        torch.cuda.empty_cache()
        return {"naive": naive, "chunk_size": config.chunk_size, "seq_len": seq_len, "error": "out of GPU memory"}
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else None
    del model, optimizer
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return {"naive": naive, "chunk_size": config.chunk_size, "seq_len": seq_len, "seconds_per_step": seconds, "tokens_per_second": batch * seq_len / seconds, "peak_gib": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=None)
    parser.add_argument("--tiny", action="store_true", help="small sizes for a CPU smoke run")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--seq-lens", default="32,64", help="sequence lengths measured for every variant")
    parser.add_argument("--long-seq", type=int, default=512, help="extra length for the chunked variant only")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    device = pick_device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(1)  # the CPU is shared; more threads only add contention
    if args.tiny:
        base = MemNetConfig(vocab_size=64, d_model=32, n_layers=1, n_attn_heads=2, n_heads=2, n_slots=32, slot_dim=16, top_k=4, chunk_size=16, window=32)
        batch = 4
    else:
        base = MemNetConfig(vocab_size=64, d_model=256, n_layers=2, n_attn_heads=4, n_heads=4, n_slots=1024, slot_dim=256, top_k=8, chunk_size=16, window=32)
        batch = 64
    base = dataclasses.replace(base, util_weight=0.0)  # the naive loop keeps no read-mass statistics
    rows = []
    for seq_len in [int(s) for s in args.seq_lens.split(",")]:
        rows.append(measure(dataclasses.replace(base, chunk_size=1, window=base.window), True, batch, seq_len, max(1, args.steps // 2), device))
        rows.append(measure(dataclasses.replace(base, chunk_size=1), False, batch, seq_len, args.steps, device))
        rows.append(measure(base, False, batch, seq_len, args.steps, device))
    rows.append(measure(base, False, batch, args.long_seq, args.steps, device))
    print(f"device: {describe(device)}  batch {batch}  slots {base.n_slots}  slot dim {base.slot_dim}  heads {base.n_heads}  top-k {base.top_k}  bf16 {device.type == 'cuda'}")
    print(f"{'variant':<34}{'seq':>6}{'tokens/s':>14}{'s/step':>10}{'peak GiB':>10}{'vs naive':>10}")
    naive_speed = {r["seq_len"]: r.get("tokens_per_second") for r in rows if r["naive"]}
    for r in rows:
        name = "naive step-by-step (reference)" if r["naive"] else f"vectorised, chunk {r['chunk_size']}"
        if "error" in r:
            print(f"{name:<34}{r['seq_len']:>6}  {r['error']}")
            continue
        ratio = r["tokens_per_second"] / naive_speed[r["seq_len"]] if naive_speed.get(r["seq_len"]) else float("nan")
        peak = f"{r['peak_gib']:.1f}" if r["peak_gib"] is not None else "-"
        print(f"{name:<34}{r['seq_len']:>6}{r['tokens_per_second']:>14,.0f}{r['seconds_per_step']:>10.3f}{peak:>10}{ratio:>10.1f}")
    if args.out:
        with open(args.out, "w") as fh:
            json.dump({"device": describe(device), "batch": batch, "config": dataclasses.asdict(base), "rows": rows}, fh, indent=2)


if __name__ == "__main__":
    main()
