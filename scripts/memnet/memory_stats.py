"""Accuracy and memory statistics of MemNet checkpoints side by side (no trace file written).

    python scripts/memnet/memory_stats.py CKPT [CKPT ...] [--task recall] [--point 256] [--batches 2]

For each checkpoint: accuracy at the point (recall distance or MQAR pairs) and the statistics that
``memscope eval`` records (usage entropy, read top-1 mass, slots covering 90%, write frequency...).
"""

from __future__ import annotations

import argparse

import torch

from engine.checkpoint import load_checkpoint
from engine.training.eval_trace import EvalPlan, evaluate_checkpoint
from tracing.recorder import MemoryRecorder

COLUMNS = ["accuracy", "usage_entropy", "read_top1_mass", "read_slots_90", "read_entropy", "write_frequency", "slot_reuse", "lifetime_mean_lower_bound"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("checkpoints", nargs="+")
    parser.add_argument("--task", default="recall")
    parser.add_argument("--point", type=int, default=256)
    parser.add_argument("--batches", type=int, default=2)
    parser.add_argument("--trace-batch", type=int, default=4)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"{'checkpoint':<48}" + "".join(f"{c:>14}" for c in COLUMNS))
    for path in args.checkpoints:
        ckpt = load_checkpoint(path)
        plan = EvalPlan(task=args.task, params={}, sweep=[args.point], batches=args.batches, batch_size=32, trace_batch=args.trace_batch)
        point = evaluate_checkpoint(ckpt, plan, MemoryRecorder(), torch.device("cpu"))["points"][0]
        print(f"{path[-48:]:<48}" + "".join(f"{point.get(c, float('nan')):>14.3f}" for c in COLUMNS))


if __name__ == "__main__":
    main()
