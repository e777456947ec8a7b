"""Evaluate trained checkpoints at fixed distances into a results file that ``plot_results.py`` reads
(the same entries as ``run_experiments.py`` writes, for models trained elsewhere, e.g. on the CPU).

    python scripts/memnet/evaluate_checkpoints.py OUT.json NAME=CHECKPOINT [...] [--distances 16,64,1024]

Each entry: ``name``, ``model`` (family), ``task``, ``config`` (the model config), ``device`` and
``train_seconds`` (the whole curriculum's training time) from the checkpoint's metrics,
``parameters``, ``steps`` and ``curve`` (accuracy and memory statistics per distance; 4 batches of 32
sequences, seed 1234, on the CPU).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from run_experiments import evaluate_curve

from engine.checkpoint import load_checkpoint, read_config


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("checkpoints", nargs="+", metavar="NAME=CHECKPOINT")
    parser.add_argument("--distances", default="16,48,64,256,1024,2048,4096")
    args = parser.parse_args()
    distances = [int(d) for d in args.distances.split(",")]
    entries = []
    for item in args.checkpoints:
        name, _, folder = item.partition("=")
        ckpt = load_checkpoint(folder, map_location="cpu")
        train = read_config(folder)["train"]
        metrics = ckpt.metrics
        print(f"{name}: {folder}", flush=True)
        entries.append({
            "name": name, "model": ckpt.family, "task": train["task"], "config": dataclasses.asdict(ckpt.config), "device": metrics["device"],
            "train_seconds": metrics.get("total_train_seconds", metrics["train_seconds"]), "parameters": metrics["parameters"],
            "steps": metrics["step"], "curve": evaluate_curve(ckpt.model.eval(), train["task"], train["task_params"], {"distances": distances}),
        })
    Path(args.out).write_text(json.dumps(entries, indent=2))


if __name__ == "__main__":
    main()
