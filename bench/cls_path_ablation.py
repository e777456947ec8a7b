"""Which episodic paths a trained CLS checkpoint uses for associative recall: accuracy with one path cut.

    python bench/cls_path_ablation.py CHECKPOINT_DIR --pairs 50 --batches 4

Cuts, one at a time and per layer, the fast-weight read (``gamma = 0``: ``H_aug = A V``) and the drifting
context (``W_c = 0``: ``h~_t = h_t``), and prints the recall accuracy at R = ``--pairs`` (one query
per sequence, key and value counts as trained, seed 1234) against the intact model.
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path

import torch

from engine.checkpoint import load_checkpoint
from engine.training.evaluation import evaluate

CUTS = {"fast-weight read (gamma = 0)": lambda attn: attn.gamma, "context drift (W_c = 0)": lambda attn: attn.drift.W_c.weight}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--pairs", type=int, default=50)
    parser.add_argument("--batches", type=int, default=4)
    args = parser.parse_args()
    torch.set_num_threads(1)
    ckpt = load_checkpoint(args.checkpoint)
    trained = ckpt.extra.get("train", {}).get("task_params", {})
    params = {k: v for k, v in trained.items() if k != "max_pairs"} | {"n_pairs": args.pairs, "n_queries": 1}
    device = torch.device("cpu")

    def accuracy(model: torch.nn.Module) -> float:
        return evaluate(model.eval(), "assoc-recall", params, batches=args.batches, batch_size=64, seed=1234, device=device)["accuracy"]

    print(f"R = {args.pairs}, intact: accuracy {accuracy(ckpt.model):.3f}")
    for layer, block in enumerate(ckpt.model.blocks):
        for what, tensor_of in CUTS.items():
            if not block.attn.fast or (block.attn.drift is None and "context" in what):
                continue
            model = copy.deepcopy(ckpt.model)
            with torch.no_grad():
                tensor_of(model.blocks[layer].attn).zero_()
            print(f"R = {args.pairs}, layer {layer} without its {what}: accuracy {accuracy(model):.3f}")


if __name__ == "__main__":
    main()
