"""Plot the MemNet results (PNG) from experiment-runner results.json files.

    python scripts/memnet/plot_results.py OUT_DIR RESULTS.json [RESULTS.json ...]

Writes memnet_recall_distance.png, memnet_mqar_capacity.png, memnet_forgetting_mqar.png,
memnet_continual.png (whichever the results contain) into OUT_DIR. A name found in several files
takes its entry from the last of them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

LABELS = {"memnet": "MemNet", "transformer-window": "Transformer, window 64", "lstm": "LSTM", "transformer": "Transformer, full context"}


def load(paths: list[str]) -> dict[str, dict]:
    runs = {}
    for p in paths:
        for r in json.loads(Path(p).read_text()):
            runs[r["name"]] = r
    return runs


def label(r: dict) -> str:
    """Model family, and for MemNet how its slots are addressed."""
    kind = LABELS.get(r["model"], r["model"])
    if r["model"] == "memnet":
        keyed = r.get("config", {}).get("slot_keys") or "model.slot_keys=true" in r.get("set", [])
        kind += ", keyed slots" if keyed else ", content-addressed"
    return kind


def save(fig, out: Path) -> None:
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def save_panels(fig, axes, title: str, out: Path) -> None:
    """A row of panels sharing the accuracy axis: its label on the first, the legend on the last."""
    axes[0].set_ylabel("accuracy")
    axes[-1].legend(fontsize=7)
    fig.suptitle(title)
    save(fig, out)


def recall_plot(runs: dict[str, dict], names: list[str], out: Path) -> None:
    fig, ax = plt.subplots(figsize=(7.2, 6.2))
    for name in names:
        if name not in runs:
            continue
        r = runs[name]
        xs = [c["x"] for c in r["curve"]]
        ys = [c["accuracy"] for c in r["curve"]]
        where = "CPU" if "cpu" in r["device"] else "GPU"
        ax.plot(xs, ys, marker="o", label=f"{label(r)}, {name} ({r['parameters'] / 1000:.0f}k params, {where} {r['train_seconds'] / 60:.0f} min)")
    ax.axhline(1 / 16, color="grey", ls=":", label="chance (1/16)")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("distance from fact to query (tokens)")
    ax.set_ylabel("recall accuracy")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=1)  # below: the curves stay visible
    ax.set_title("Long-range recall")
    save(fig, out)


def mqar_plot(runs: list[dict], slots: int, out: Path) -> None:
    fig, ax = plt.subplots(figsize=(6.4, 4))
    for r in runs:
        ax.plot([c["x"] for c in r["curve"]], [c["accuracy"] for c in r["curve"]], marker="o", label=label(r))
    ax.axvline(slots, color="grey", ls="--", label=f"{slots} slots per head")
    ax.set_xlabel("key-value pairs")
    ax.set_ylabel("MQAR accuracy")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8)
    ax.set_title("MQAR capacity")
    save(fig, out)


def forgetting_mqar_plot(pairs: list[tuple[dict, dict]], out: Path) -> None:
    """``pairs``: (decay + erase on, ablated) runs; one panel each."""
    fig, axes = plt.subplots(1, len(pairs), figsize=(5.2 * len(pairs), 3.8), sharey=True, squeeze=False)
    for ax, (on, off) in zip(axes[0], pairs):
        for r, what in ((on, "decay + erase"), (off, "ablated")):
            xs = [c["x"] for c in r["curve"]]
            ax.plot(xs, [c.get("accuracy_rebound", float("nan")) for c in r["curve"]], marker="o", label=f"{what}: re-bound keys")
            ax.plot(xs, [c.get("accuracy_kept", float("nan")) for c in r["curve"]], marker="x", ls="--", label=f"{what}: other keys")
        ax.set_title(label(on), fontsize=9)
        ax.set_xlabel("key-value pairs (4 re-bound)")
        ax.set_ylim(0, 1.05)
    save_panels(fig, axes[0], "Forgetting-MQAR", out)


def continual_plot(runs: list[dict], out: Path) -> None:
    fig, axes = plt.subplots(1, len(runs), figsize=(4 * len(runs), 3.6), sharey=True, squeeze=False)
    for ax, r in zip(axes[0], runs):
        rows = r["forgetting"]
        tasks = sorted(rows[0]["accuracy"], key=int)
        for t in tasks:
            ax.plot([row["after_task"] for row in rows], [row["accuracy"][t] for row in rows], marker="o", label=f"task {t}")
        ax.set_title(label(r), fontsize=9)
        ax.set_xlabel("after training task")
        ax.set_ylim(0, 1.05)
    save_panels(fig, axes[0], "Continual learning: accuracy on every task after each one", out)


def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    runs = load(sys.argv[2:])
    memnet = [n for n in ("cpu-keyed-s0", "cpu-keyed-s1", "cpu-content-s0", "t-soft-3s") if n in runs]
    recall_plot(runs, memnet + ["g-tw", "g-lstm", "lstm-lr3e-3-s0", "g-tf"], out / "memnet_recall_distance.png")
    mqar = [runs[n] for n in ("kmq-n16", "g-mq-n16") if n in runs]
    if mqar:
        mqar_plot(mqar, 16, out / "memnet_mqar_capacity.png")
    pairs = [(runs[on], runs[off]) for on, off in (("kfm-on-s0", "kfm-off-s0"), ("fm-on", "fm-off")) if on in runs and off in runs]
    if pairs:
        forgetting_mqar_plot(pairs, out / "memnet_forgetting_mqar.png")
    continual = [runs[n] for n in ("kcl-memnet-s0", "cl-memnet", "cl-transformer", "cl-lstm") if n in runs]
    if continual:
        continual_plot(continual, out / "memnet_continual.png")


if __name__ == "__main__":
    main()
