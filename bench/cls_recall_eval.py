"""Accuracy of CLS checkpoints on associative recall at each R, without writing a trace.

    python bench/cls_recall_eval.py CHECKPOINT_DIR [...] --pairs 8,16,32,50,64,96,128 --batches 16 --device cuda

The same numbers as ``memscope eval CHECKPOINT --task assoc-recall --pairs ... --set task.n_queries=1``
(the same evaluation function, batches and seed 1234), for machines or moments where the trace writer is
unavailable; prints one ``x=R: accuracy A`` line per point, the format ``bench/cls_report.py`` reads.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from engine.checkpoint import load_checkpoint
from engine.device import pick_device
from engine.training.evaluation import evaluate


def recall_sweep(folder: Path, pairs: list[int], batches: int, batch_size: int, device: torch.device, seed: int = 1234) -> dict[int, float]:
    """``{R: accuracy}`` with one query per sequence; key and value counts as the checkpoint was trained."""
    ckpt = load_checkpoint(folder)
    trained = ckpt.extra.get("train", {}).get("task_params", {})
    base = {k: v for k, v in trained.items() if k not in ("n_pairs", "max_pairs")} | {"n_queries": 1}
    model = ckpt.model.to(device).eval()
    return {R: evaluate(model, "assoc-recall", {**base, "n_pairs": R}, batches=batches, batch_size=batch_size, seed=seed, device=device)["accuracy"] for R in pairs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+", type=Path)
    parser.add_argument("--pairs", default="8,16,32,50,64,96,128")
    parser.add_argument("--batches", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    device = pick_device(args.device)
    pairs = [int(p) for p in args.pairs.split(",")]
    for folder in args.checkpoints:
        print(f"checkpoint: {folder}")
        for R, accuracy in recall_sweep(folder, pairs, args.batches, args.batch_size, device).items():
            print(f"x={float(R)}: accuracy {accuracy:.4f}", flush=True)


if __name__ == "__main__":
    main()
