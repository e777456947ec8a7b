"""Run a set of MemNet/baseline trainings from a JSON spec, several at once, and evaluate each.

    python scripts/memnet/run_experiments.py SPEC.json OUTDIR [--parallel 8] [--only NAME,...]

SPEC: ``{"runs": [{"name": "memnet-recall", "model": "memnet", "task": "recall",
"set": ["model.top_k=8"], "stages": [["steps=800", "task.max_distance=32"], ["steps=3000"]],
"eval": {"distances": [16, 64, 1024]}}]}``; ``stages`` (optional) are trained in turn, each resuming
the previous one (a curriculum); ``eval`` takes
``distances`` (recall), ``pairs`` (mqar, mqar-forget) or nothing (continual: forgetting curves from
training). Each run writes ``OUTDIR/NAME/`` (checkpoint), ``OUTDIR/NAME.log`` and
``OUTDIR/NAME/result.json``; the parent writes ``OUTDIR/results.json``. Needs no DuckDB (GPU machine).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def evaluate_curve(model, task: str, task_params: dict, spec: dict) -> list[dict]:
    """Accuracy (and the memory statistics) at each of ``spec["distances"]`` or ``spec["pairs"]``:
    ``spec.get("batches", 4)`` batches of ``spec.get("batch_size", 32)`` sequences, seed 1234."""
    from engine.training.evaluation import evaluate

    dev = next(model.parameters()).device
    params = {k: v for k, v in task_params.items() if k not in ("distance", "n_pairs", "max_pairs", "min_distance", "max_distance")}
    points = [("distance", d) for d in spec.get("distances", [])] + [("n_pairs", p) for p in spec.get("pairs", [])]
    curve = []
    for key, x in points:
        curve.append({"x": x, **evaluate(model, task, {**params, key: x}, batches=spec.get("batches", 4), batch_size=spec.get("batch_size", 32), seed=1234, device=dev)})
        print(f"{key} {x}: {curve[-1]['accuracy']:.4f}", flush=True)
    return curve


def run_one(run: dict, outdir: Path, device: str) -> dict:
    import torch

    from engine.checkpoint import load_checkpoint
    from engine.training.config import build_config
    from engine.training.trainer import train

    torch.set_num_threads(1)
    ckpt_dir = outdir / run["name"]
    began = time.time()
    for index, stage in enumerate(run.get("stages", [[]])):
        cfg = build_config({"model": run["model"], "task": run["task"], "out": str(ckpt_dir), "device": device}, overrides=run.get("set", []) + stage)
        print(f"stage {index}: {stage}", flush=True)
        result = train(cfg, resume=ckpt_dir if index else None, progress=False, log=lambda line: print(line, flush=True))
    seconds = time.time() - began
    ckpt = load_checkpoint(ckpt_dir, map_location=result.metrics["device"].split(" ")[0])
    curve = evaluate_curve(ckpt.model, run["task"], cfg.task_params, run.get("eval", {}))
    out = {
        "name": run["name"], "model": run["model"], "task": run["task"], "set": run.get("set", []), "stages": run.get("stages", []), "train_seconds": seconds,
        "parameters": result.metrics["parameters"], "device": result.metrics["device"], "steps": result.metrics["step"],
        "final": result.metrics.get("final"), "curve": curve, "forgetting": result.metrics.get("forgetting", []),
        "history": result.metrics.get("history", []), "tokens_per_second": result.metrics.get("tokens_per_second"),
    }
    (ckpt_dir / "result.json").write_text(json.dumps(out, indent=2))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("spec")
    parser.add_argument("outdir")
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--only", default=None)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    spec = json.loads(Path(args.spec).read_text())
    runs = spec["runs"]
    if args.only:
        wanted = set(args.only.split(","))
        runs = [r for r in runs if r["name"] in wanted]
    outdir = Path(args.outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    if args.child:
        run_one(next(r for r in runs if r["name"] == args.child), outdir, args.device)
        return
    pending, active, results = list(runs), {}, []
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", "OMP_NUM_THREADS": "1"}
    while pending or active:
        while pending and len(active) < args.parallel:
            run = pending.pop(0)
            log = open(outdir / f"{run['name']}.log", "w")
            cmd = [sys.executable, __file__, args.spec, str(outdir), "--child", run["name"], "--device", args.device]
            active[run["name"]] = (subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env), log)
        time.sleep(2)
        for name, (proc, log) in list(active.items()):
            if proc.poll() is not None:
                log.close()
                del active[name]
                path = outdir / name / "result.json"
                status = "ok" if proc.returncode == 0 and path.is_file() else f"failed ({proc.returncode})"
                print(f"{name}: {status}", flush=True)
                if status == "ok":
                    results.append(json.loads(path.read_text()))
    (outdir / "results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
