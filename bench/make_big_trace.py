"""Build a 10-million-event trace with the shape of a real slot-memory run, for bench/queries.py.

Run ``memnet`` (the big one): B batch rows x L layers x H heads of an S-slot memory over T steps.
Every step, every (batch, layer, head) reads its top-k slots (``read``, weight = attention) and
updates the addressed slots in place (``update``); about one step in four it allocates a slot
for new content (``write``, with gate and weight), evicting the slot's old content first
(``evict``) unless that content already decayed (``decay``, a few steps after some writes).
``cell_states`` (age, usage, norm of every slot) are sampled every ``--state-every`` steps,
``steps`` hold per-token entropy / surprisal / KL and top-5 lists, ``moments`` a salience
detector's signatures. A second small run (``lm``) sits in the same file, so every query has to
filter by run.

    python bench/make_big_trace.py                     # ~10 M events, into $TMPDIR/memscope_big_trace.duckdb
    python bench/make_big_trace.py --out /tmp/small.duckdb --steps 2000   # quick

Written through :class:`tracing.writer.DuckDBRecorder`, in chunks of steps (so the file is
step-ordered, as a live run writes it).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.progress import Progress

from tracing.writer import DuckDBRecorder

BATCH, LAYERS, HEADS, SLOTS, TOPK = 4, 2, 4, 64, 4
WRITE_RATE = 0.25  # allocations per step per (batch, layer, head)
DECAY_SHARE = 0.1  # share of written contents that decay before they are overwritten
CHUNK_STEPS = 2_000
DEFAULT_TRACE = Path(tempfile.gettempdir()) / "memscope_big_trace.duckdb"
"""Outside the repository: the file is ~150 MiB and must never be committed."""


def stream_allocations(rng: np.random.Generator, n_steps: int) -> dict[str, np.ndarray]:
    """Allocations of one (batch, layer, head) stream, sorted by (cell, step).

    ``w_step``/``w_cell``: writes; ``e_step``/``e_cell``: the evicts before writes whose slot still
    held live content; ``d_step``/``d_cell``: decays (some contents fade 1-7 steps after their write,
    when no write replaces them first).
    """
    n = rng.binomial(n_steps, WRITE_RATE)
    steps, cells = rng.integers(0, n_steps, n), rng.integers(0, SLOTS, n)
    order = np.lexsort((steps, cells))
    s, c = steps[order], cells[order]
    same_next = np.r_[c[1:] == c[:-1], False]
    gap = np.where(same_next, np.r_[s[1:], n_steps] - s, n_steps - s)
    decays = (rng.random(n) < DECAY_SHARE) & (gap > 8)
    evicts = np.r_[False, same_next[:-1]] & ~np.r_[False, decays[:-1]]  # previous content still live
    return dict(
        w_step=s, w_cell=c, e_step=s[evicts], e_cell=c[evicts],
        d_step=s[decays] + rng.integers(1, 8, int(decays.sum())), d_cell=c[decays],
        w_weight=rng.random(n).astype(np.float32), w_gate=rng.random(n).astype(np.float32),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_TRACE)
    parser.add_argument("--steps", type=int, default=57_000, help="time steps of the big run (57k ~ 10 M events)")
    parser.add_argument("--state-every", type=int, default=50, help="cell_states sampling period (steps)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.out.exists():
        args.out.unlink()
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    events = write_memnet_run(args.out, args.steps, args.state_every, rng)
    events += write_lm_run(args.out, rng)
    size = args.out.stat().st_size
    print(f"{args.out}: {events:,} events, {size / 2**20:.0f} MiB, built in {time.perf_counter() - started:.0f} s")


def write_memnet_run(path: Path, n_steps: int, state_every: int, rng: np.random.Generator) -> int:
    streams = [(b, l, h) for b in range(BATCH) for l in range(LAYERS) for h in range(HEADS)]
    plans = [dict(b=b, l=l, h=h, **stream_allocations(rng, n_steps)) for b, l, h in streams]
    total = 0
    config = dict(batch=BATCH, layers=LAYERS, heads=HEADS, slots=SLOTS, topk=TOPK, write_rate=WRITE_RATE)
    with DuckDBRecorder(path, name="big memnet run (bench)", family="memnet", model="memnet-bench", config=config,
                        input="synthetic recall", device="cpu", flush_interval=5.0,
                        cell_state_sampling=f"every {state_every} steps",
                        index_on_finish=False) as rec, Progress() as bar:  # queries.py times the raw queries
        task = bar.add_task("memnet run", total=n_steps)
        for lo in range(0, n_steps, CHUNK_STEPS):
            hi = min(lo + CHUNK_STEPS, n_steps)
            total += record_chunk(rec, rng, plans, lo, hi, state_every)
            bar.update(task, completed=hi)
    return total


def record_chunk(rec: DuckDBRecorder, rng: np.random.Generator, plans: list[dict], lo: int, hi: int, state_every: int) -> int:
    """Record steps [lo, hi) of every stream: reads, updates, evicts, writes, decays, states, steps."""
    n = hi - lo
    step = np.arange(lo, hi)
    total = 0
    for p in plans:
        ids = dict(batch=p["b"], layer=p["l"], head=p["h"])
        read_step = np.repeat(step, TOPK)
        read_cell = rng.integers(0, SLOTS, n * TOPK)
        rec.events(step=read_step, op="read", memory="slot", cell=read_cell, weight=rng.random(n * TOPK, np.float32), **ids)
        rec.events(step=step, op="update", memory="slot", cell=read_cell[::TOPK], weight=rng.random(n, np.float32), **ids)
        total += n * (TOPK + 1)
        for op, steps_key, cells_key in (("evict", "e_step", "e_cell"), ("write", "w_step", "w_cell"), ("decay", "d_step", "d_cell")):
            sel = (p[steps_key] >= lo) & (p[steps_key] < hi)
            if not sel.any():
                continue
            extra = dict(weight=p["w_weight"][sel], gate=p["w_gate"][sel]) if op == "write" else {}
            rec.events(step=p[steps_key][sel], op=op, memory="slot", cell=p[cells_key][sel], **extra, **ids)
            total += int(sel.sum())
        for s in range(lo + (-lo) % state_every, hi, state_every):
            cells = np.arange(SLOTS)
            rec.cell_states(step=s, memory="slot", cell=cells, age=rng.random(SLOTS, np.float32) * s,
                            usage=rng.random(SLOTS, np.float32), norm=rng.random(SLOTS, np.float32) + 0.5, **ids)
    for b in range(BATCH):
        entropy = rng.gamma(2.0, 1.0, n).astype(np.float32)
        rec.steps(step=step, batch=b, token_id=rng.integers(0, 5000, n), entropy=entropy,
                  surprisal=rng.gamma(2.0, 1.5, n).astype(np.float32), kl=rng.gamma(1.0, 0.3, n).astype(np.float32),
                  topk_ids=rng.integers(0, 5000, (n, 5)), topk_probs=rng.dirichlet(np.ones(5), n).astype(np.float32))
        spikes = step[entropy > 6.0]
        if len(spikes):
            rec.moments(moment_id=spikes * BATCH + b, step=spikes, batch=b, memory="moment", trigger="entropy_spike",
                        entropy=entropy[entropy > 6.0], topk_ids=rng.integers(0, 5000, (len(spikes), 5)),
                        topk_probs=rng.dirichlet(np.ones(5), len(spikes)).astype(np.float32),
                        embedding=rng.standard_normal((len(spikes), 32)).astype(np.float32))
    rec.metric("loss", float(rng.random()), step=hi)
    return total


def write_lm_run(path: Path, rng: np.random.Generator) -> int:
    """A small second run (moment memory of a language model) in the same file."""
    n = 20_000
    step = np.arange(n)
    with DuckDBRecorder(path, name="small lm run", family="lm", model="tiny-lm", input="Once upon a time",
                        index_on_finish=False) as rec:
        rec.steps(step=step, token_id=rng.integers(0, 2000, n), token_text=[f"t{i % 97}" for i in range(n)],
                  entropy=rng.gamma(2.0, 1.0, n).astype(np.float32))
        rec.events(step=step, op="write", memory="moment", cell=step)
        rec.events(step=step[10:], op="prune", memory="moment", cell=step[:-10])
    return 2 * n - 10


if __name__ == "__main__":
    main()
