"""Where a recall MemNet writes, and whether its queries read the fact's slot.

    python scripts/memnet/write_probe.py CKPT [--distances 16,48,64,256,1024] [--batch-size 32]

For each distance, on one seeded batch of the ``recall`` task: accuracy; the mean allocation weight
``a = g * alpha`` and the share of tokens allocating (``a >= write_floor``) per token kind (distractor,
fact key, fact value, query marker, query key); the read weight that the query key puts on the slot
allocated at its fact's value token (mean over heads); and how often that slot was re-allocated
before the query. A model with the memory solution writes at fact values and reads that slot; a
model on the plateau writes from distractors (relaying facts through its attention window) and does
not read the fact's own slot.
"""

from __future__ import annotations

import argparse

import torch

from engine.checkpoint import load_checkpoint
from engine.tasks import IGNORE, make_task
from engine.tasks.recall import QUERY

KINDS = ("distractor", "fact key", "fact value", "query marker", "query key")


def token_kinds(task, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``(B, T)`` index into :data:`KINDS` for every token of a recall batch."""
    kinds = torch.zeros_like(inputs)
    facts = torch.arange(task.lead, task.lead + 2 * task.n_facts)
    kinds[:, facts[0::2]] = 1
    kinds[:, facts[1::2]] = 2
    kinds[inputs == QUERY] = 3
    kinds[targets != IGNORE] = 4
    return kinds


def probe(model, task, distance: int, batch_size: int) -> str:
    """One line of statistics at ``distance``."""
    cfg = model.config
    batch = make_task("recall", distance=distance).make_batch(batch_size, torch.Generator().manual_seed(5))
    x, y = batch.inputs, batch.targets
    with torch.no_grad():
        h, io = model.controller(model.encoder(x))
        reads, _, _, records = model.memory(io, model.memory.initial_state(x.shape[0], x.device), record=True)
        logits = model.head(model.fusion(h, reads))
    cat = lambda name: torch.cat([getattr(r, name) for r in records], dim=2)  # noqa: E731  (B, H, T, ...)
    alloc_w, alloc_idx, read_idx, read_w = cat("alloc_w"), cat("alloc_idx"), cat("read_idx"), cat("read_w")
    kinds = token_kinds(task, x, y).unsqueeze(1).expand_as(alloc_w)
    parts = [f"{name} {alloc_w[kinds == k].mean():.3f}/{(alloc_w[kinds == k] >= cfg.write_floor).float().mean():.2f}" for k, name in enumerate(KINDS)]
    mass, reallocated = [], []
    fact_keys = x[:, task.lead : task.lead + 2 * task.n_facts : 2]
    for b, q in (y != IGNORE).nonzero().tolist():
        value_pos = task.lead + 1 + 2 * int((fact_keys[b] == x[b, q]).nonzero()[0])
        slot = alloc_idx[b, :, value_pos]  # (H,)
        mass.append((read_w[b, :, q] * (read_idx[b, :, q] == slot[:, None])).sum(-1).mean().item())
        later = (alloc_idx[b, :, value_pos + 1 : q] == slot[:, None]) & (alloc_w[b, :, value_pos + 1 : q] >= cfg.write_floor)
        reallocated.append(later.any(-1).float().mean().item())
    accuracy = (logits.argmax(-1)[y != IGNORE] == y[y != IGNORE]).float().mean().item()
    return (
        f"d={distance:<5} accuracy {accuracy:.3f} | allocation mean/share>=floor: {', '.join(parts)} | "
        f"read weight on the fact's slot {sum(mass) / len(mass):.2f}, slot re-allocated before the query {sum(reallocated) / len(reallocated):.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("checkpoint")
    parser.add_argument("--distances", default="16,48,64,256,1024")
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = load_checkpoint(args.checkpoint).model.eval()
    task = make_task("recall")
    print(args.checkpoint)
    for d in (int(v) for v in args.distances.split(",")):
        print(probe(model, task, d, args.batch_size))


if __name__ == "__main__":
    main()
