"""Turn the output folder of ``bench/cls_experiments.sh`` into the tables and plots of docs/results/cls.md.

    python bench/cls_report.py RESULTS_DIR docs/results

Prints markdown tables (capacity curve, ablations, forgetting, throughput) and writes
``cls_capacity_earlier.png`` (the earlier batch; ``cls_capacity.png`` is bench/cls_recall_report.py's) and
``cls_forgetting.png`` into the plot folder.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import plotly.graph_objects as go
import torch

from engine.cls.fast_weights import fast_weight_chunked

MECHANISM_R = [8, 16, 32, 48, 64, 96, 128, 192, 256]


def mechanism_capacity(d_k: int = 64, trials: int = 20) -> dict[str, dict[int, float]]:
    """The rules alone, untrained: R random unit keys in d_k dims bound to R random unit values in one
    pass, then each key is read back; a recall is right when the read is closest (cosine)
    to its own value among the R. Mean over ``trials`` seeds."""
    variants = {"hebbian, beta 1": ("hebbian", 1.0), "delta, beta 1": ("delta", 1.0), "delta, beta 0.5": ("delta", 0.5)}
    out: dict[str, dict[int, float]] = {name: {} for name in variants}
    for R in MECHANISM_R:
        hits = {rule: 0.0 for rule in out}
        for seed in range(trials):
            g = torch.Generator().manual_seed(seed)
            k = torch.nn.functional.normalize(torch.randn(1, 1, R, d_k, generator=g, dtype=torch.float64), dim=-1)
            v = torch.nn.functional.normalize(torch.randn(1, 1, R, d_k, generator=g, dtype=torch.float64), dim=-1)
            for name, (rule, b) in variants.items():
                beta = torch.full((1, 1, R), b, dtype=torch.float64)
                F = fast_weight_chunked(k, k, v, beta, rule, 64).state[0, 0]
                read = torch.nn.functional.normalize(k[0, 0] @ F, dim=-1)
                hits[name] += ((read @ v[0, 0].T).argmax(-1) == torch.arange(R)).double().mean().item() / trials
        for rule in out:
            out[rule][R] = hits[rule]
    return out

CAPACITY = ["cls-hebbian", "cls-delta-nogate", "cls-delta", "cls-hyper", "transformer-window2"]
ABLATIONS = ["cls-delta", "cls-delta-nogate", "cls-delta-nocontext", "cls-delta-nogate-nocontext"]
CONTINUAL = ["cont-cls", "cont-cls-replay-ewc", "cont-cls-replay-si", "cont-transformer"]


def sweep(results: Path, name: str) -> dict[int, float]:
    path = results / "eval" / f"{name}.txt"
    if not path.is_file():
        return {}
    return {int(float(x)): float(a) for x, a in re.findall(r"x=([\d.]+): accuracy ([\d.]+)", path.read_text())}


def train_info(results: Path, name: str) -> dict:
    path = results / "checkpoints" / name / "metrics.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def main() -> None:
    results, plots = Path(sys.argv[1]), Path(sys.argv[2])
    plots.mkdir(parents=True, exist_ok=True)
    curves = {name: sweep(results, name) for name in CAPACITY + ABLATIONS}
    xs = sorted({x for c in curves.values() for x in c})
    print("| model | steps | train s | " + " | ".join(f"R={x}" for x in xs) + " |")
    print("|---|---|---|" + "---|" * len(xs))
    for name in dict.fromkeys(CAPACITY + ABLATIONS):
        info = train_info(results, name)
        cells = " | ".join(f"{100 * (1 - curves[name][x]):.1f}" if x in curves[name] else "" for x in xs)
        print(f"| {name} | {info.get('step', '')} | {info.get('train_seconds', 0):.0f} | {cells} |")
    fig = go.Figure()
    for name in CAPACITY:
        c = curves[name]
        fig.add_trace(go.Scatter(x=list(c), y=[100 * (1 - a) for a in c.values()], mode="lines+markers", name=name))
    fig.add_vline(x=64, line_dash="dot", annotation_text="d_k = 64")
    fig.update_layout(title="Associative recall: error vs number of pairs R", xaxis_title="R (key-value pairs)", yaxis_title="error %", template="plotly_white", width=800, height=450)
    fig.write_image(str(plots / "cls_capacity_earlier.png"))

    print()
    mech = mechanism_capacity()
    print("| rule, untrained (d_k = 64) | " + " | ".join(f"R={r}" for r in MECHANISM_R) + " |")
    print("|---|" + "---|" * len(MECHANISM_R))
    for rule, c in mech.items():
        print(f"| {rule} | " + " | ".join(f"{max(0.0, 100 * (1 - c[r])):.1f}" for r in MECHANISM_R) + " |")
    fig = go.Figure()
    for rule, c in mech.items():
        fig.add_trace(go.Scatter(x=list(c), y=[100 * (1 - a) for a in c.values()], mode="lines+markers", name=rule))
    fig.add_vline(x=64, line_dash="dot", annotation_text="d_k = 64")
    fig.update_layout(title="The update rules alone: recall error vs stored pairs (random unit keys, d_k = 64)", xaxis_title="R", yaxis_title="error %", template="plotly_white", width=800, height=450)
    fig.write_image(str(plots / "cls_rule_capacity.png"))

    print()
    fig = go.Figure()
    print("| model | after task | " + " | ".join(f"task {j}" for j in range(4)) + " |")
    print("|---|---|" + "---|" * 4)
    for name in CONTINUAL:
        rows = train_info(results, name).get("forgetting", [])
        for row in rows:
            accs = row["accuracy"]
            print(f"| {name} | {row['after_task']} | " + " | ".join(f"{accs.get(str(j), accs.get(j, float('nan'))):.3f}" for j in range(len(accs))) + " |")
        if rows:
            first = [row["accuracy"].get("0", row["accuracy"].get(0)) for row in rows]
            mean = [sum(row["accuracy"].values()) / len(row["accuracy"]) for row in rows]
            fig.add_trace(go.Scatter(x=[r["after_task"] for r in rows], y=first, mode="lines+markers", name=f"{name}: task 0"))
            fig.add_trace(go.Scatter(x=[r["after_task"] for r in rows], y=mean, mode="lines", line_dash="dot", name=f"{name}: mean of all tasks"))
    fig.update_layout(title="Continual learning: accuracy on task 0 after each task", xaxis_title="after training task", yaxis_title="accuracy", template="plotly_white", width=800, height=450)
    fig.write_image(str(plots / "cls_forgetting.png"))

    bench = results / "bench-cls.json"
    if bench.is_file():
        b = json.loads(bench.read_text())
        print()
        print(f"device: {b['device']}, torch {b['torch']}, batch {b['batch']} x seq {b['seq']}, config {b['config']}")
        print("| model | train tokens/s | ratio | forward tokens/s | ratio |")
        print("|---|---|---|---|---|")
        for r in b["models"]:
            print(f"| {r['model']} | {r['train_tokens_per_s']:,.0f} | {r['train_ratio']:.2f} | {r['forward_tokens_per_s']:,.0f} | {r['forward_ratio']:.2f} |")
        print("| rule | chunk | chunked tokens/s | step-by-step tokens/s | speed-up |")
        print("|---|---|---|---|---|")
        for r in b["kernels"]:
            print(f"| {r['rule']} | {r['chunk']} | {r['chunked_tokens_per_s']:,.0f} | {r['recurrent_tokens_per_s']:,.0f} | {r['speedup']:.0f}x |")


if __name__ == "__main__":
    main()
