"""Tables and the capacity plot of docs/results/cls.md from ``bench/cls_recall_experiments.sh`` output folders.

    python bench/cls_recall_report.py docs/results RESULTS_DIR [RESULTS_DIR ...] [--plot NAME,NAME] [--json FILE]

Prints one markdown row per trained model (rule, gate, eta, d_model, heads, d_k, seed, steps, seconds,
final training accuracy, error % at each R), writes ``cls_capacity.png`` (error vs R, one curve per
model named in ``--plot``, default all; a dotted line at each key dimension) into the plot folder (the
first argument) and, with ``--json``, every run's config, training history and sweep.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import plotly.graph_objects as go


def sweep(text: str) -> dict[int, float]:
    """``{R: accuracy}`` from ``x=R: accuracy A`` lines."""
    return {int(float(x)): float(a) for x, a in re.findall(r"x=([\d.]+): accuracy ([\d.]+)", text)}


def runs(folder: Path) -> list[dict]:
    """One dict per model of an experiments folder: name, model config, training metrics, sweep."""
    out = []
    for ev in sorted((folder / "eval").glob("*.txt")):
        ckpt = folder / "checkpoints" / ev.stem
        if not (ckpt / "config.json").is_file():
            continue
        config = json.loads((ckpt / "config.json").read_text())
        metrics = json.loads((ckpt / "metrics.json").read_text())
        train = config.get("train", {})
        out.append({"name": ev.stem, "model": config["model"], "train": train, "metrics": metrics, "sweep": sweep(ev.read_text())})
    return out


def row(run: dict, xs: list[int]) -> str:
    m, metrics = run["model"], run["metrics"]
    gate = f"open (b_g {m.get('gate_bias_init', 0.0):g})" if m.get("use_gate") and m.get("gate_bias_init", 0.0) else ("on" if m.get("use_gate") else "off")
    cells = " | ".join(f"{100 * (1 - run['sweep'][x]):.1f}" if x in run["sweep"] else "" for x in xs)
    final = metrics.get("final", {}).get("accuracy", float("nan"))
    d_k = m["d_model"] // m["n_heads"]
    seed = run["train"].get("seed", "")
    return (f"| {run['name']} | {m['rule']} | {gate} | {m['eta']:g} | {m['d_model']} | {m['n_heads']} | {d_k} | {seed} | "
            f"{metrics.get('step', '')} | {metrics.get('train_seconds', 0):.0f} | {final:.3f} | {cells} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("plots", type=Path)
    parser.add_argument("folders", type=Path, nargs="+")
    parser.add_argument("--plot", default=None, help="comma-separated run names to draw (default: all)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    args.plots.mkdir(parents=True, exist_ok=True)
    all_runs = [r for f in args.folders for r in runs(f)]
    xs = sorted({x for r in all_runs for x in r["sweep"]})
    print("| model | rule | gate | eta | d_model | heads | d_k | seed | steps | train s | train acc | " + " | ".join(f"R={x}" for x in xs) + " |")
    print("|---" * (11 + len(xs)) + "|")
    for r in all_runs:
        print(row(r, xs))
    if args.json is not None:
        keep = {r["name"]: {"model": r["model"], "train": r["train"], "steps": r["metrics"].get("step"), "train_seconds": r["metrics"].get("train_seconds"),
                            "device": r["metrics"].get("device"), "history": r["metrics"].get("history"), "error_pct": {R: round(100 * (1 - a), 2) for R, a in r["sweep"].items()}}
                for r in all_runs}
        args.json.write_text(json.dumps(keep, indent=1) + "\n")
    drawn = [r for r in all_runs if args.plot is None or r["name"] in args.plot.split(",")]
    fig = go.Figure()
    for r in drawn:
        s = r["sweep"]
        dash = "dash" if r["model"]["rule"] == "hebbian" else "solid"
        fig.add_trace(go.Scatter(x=list(s), y=[100 * (1 - a) for a in s.values()], mode="lines+markers", name=r["name"], line={"dash": dash}))
    for d_k in sorted({r["model"]["d_model"] // r["model"]["n_heads"] for r in drawn}):
        fig.add_vline(x=d_k, line_dash="dot", annotation_text=f"d_k = {d_k}")
    fig.add_vline(x=50, line_color="red", line_width=1, annotation_text="target R = 50", annotation_position="bottom left")
    fig.update_layout(title="Associative recall: error vs number of pairs R (trained on R in [8, 64])", xaxis_title="R (key-value pairs)",
                      yaxis_title="error %", template="plotly_white", width=900, height=500)
    fig.write_image(str(args.plots / "cls_capacity.png"))


if __name__ == "__main__":
    main()
