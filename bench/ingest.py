"""Ingest benchmark: memory events per second through DuckDBRecorder vs a raw Arrow append.

Workload (engine-style): every step, one ``rec.events(...)`` call with torch tensors for
``batch x heads x top-k`` slot reads (default 64 x 4 x 8 = 2,048 events per call).

- recorder: a fresh ``DuckDBRecorder`` (background flushes every ``--flush-interval`` s, file
  released between flushes); timed from the first call until ``finish()`` has committed
  everything, so the rate is what the writer sustains end to end (buffer -> Arrow -> DuckDB).
- raw: the same events, already converted to Arrow batches of the same size as the recorder's
  flushes (untimed), appended to a fresh file through ONE open connection, then closed.

Both append with :func:`tracing.writer.append_arrow`. The ratio recorder/raw is the recorder's
cost over the bare append (target >= 0.90); runs alternate and the median of ``--repeats`` is shown.

    python bench/ingest.py                # default: 1,500 steps = 3.1 M events, 3 repeats
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import tempfile
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import torch

from tracing.connection import create_schema
from tracing.recorder import BufferedRecorder
from tracing.writer import DuckDBRecorder, append_arrow


def cpu_seconds() -> float:
    """CPU time of this process, every thread (user + system): robust to other load on shared cores."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def make_step_tensors(batch: int, heads: int, topk: int, variants: int = 16) -> list[dict[str, torch.Tensor]]:
    """``variants`` sets of per-step read columns, each of shape ``(batch * heads * topk,)``."""
    g = torch.Generator().manual_seed(0)
    n = batch * heads * topk
    head = torch.arange(heads, dtype=torch.int16).repeat_interleave(topk).repeat(batch)
    batch_ids = torch.arange(batch, dtype=torch.int32).repeat_interleave(heads * topk)
    return [
        dict(
            head=head,
            batch=batch_ids,
            cell=torch.randint(0, 1024, (n,), generator=g),
            weight=torch.rand(n, generator=g),
        )
        for _ in range(variants)
    ]


def record_steps(rec, steps: int, tensors: list[dict[str, torch.Tensor]], first: int = 0) -> None:
    """The engine's side: one ``events`` call per step (a slot-memory top-k read)."""
    for step in range(first, first + steps):
        rec.events(step=step, op="read", memory="slot", layer=0, **tensors[step % len(tensors)])


def run_recorder(path: Path, steps: int, tensors, flush_interval: float) -> tuple[float, float, float, int]:
    """(seconds until all rows are committed, CPU seconds, seconds in the engine's calls, flushes)."""
    flushes = []
    rec = DuckDBRecorder(path, name="bench", family="memnet", flush_interval=flush_interval, on_flush=flushes.append,
                         index_on_finish=False)  # ingest only: finish() must not add indexing time
    start, cpu = time.perf_counter(), cpu_seconds()
    record_steps(rec, steps, tensors)
    calls = time.perf_counter() - start
    rec.finish()
    return time.perf_counter() - start, cpu_seconds() - cpu, calls, len(flushes)


def arrow_batches(steps: int, tensors, n_batches: int) -> tuple[list[pa.Table], float]:
    """The same events as Arrow tables in ``n_batches`` batches (as a flush drains them), and the drain CPU seconds."""
    out, drain_seconds = [], 0.0
    bounds = [round(i * steps / n_batches) for i in range(n_batches + 1)]
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        buffer = BufferedRecorder("0" * 32)
        record_steps(buffer, hi - lo, tensors, first=lo)
        start = cpu_seconds()
        out.append(buffer.drain(with_run_id=False)["memory_events"])
        drain_seconds += cpu_seconds() - start
    return out, drain_seconds


def run_raw(path: Path, batches: list[pa.Table]) -> tuple[float, float]:
    """(seconds, CPU seconds) to append ``batches`` through one connection (open, append each, close)."""
    con = duckdb.connect(str(path))
    create_schema(con)
    start, cpu = time.perf_counter(), cpu_seconds()
    for batch in batches:
        append_arrow(con, "memory_events", batch, "0" * 32)
    con.close()
    return time.perf_counter() - start, cpu_seconds() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--topk", type=int, default=8)
    parser.add_argument("--flush-interval", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)

    tensors = make_step_tensors(args.batch, args.heads, args.topk)
    events = args.steps * args.batch * args.heads * args.topk
    print(f"memscope ingest: {events:,} events ({args.steps} steps x {args.batch}x{args.heads}x{args.topk}), "
          f"flush interval {args.flush_interval} s, {os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
          f"duckdb {duckdb.__version__}, pyarrow {pa.__version__}, torch {torch.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        warm = Path(tmp) / "warm.duckdb"
        run_recorder(warm, 50, tensors, args.flush_interval)  # imports, first-call costs
        rates: dict[str, list[float]] = {"rec": [], "raw": [], "rec_cpu": [], "raw_cpu": [], "calls": [], "drain": []}
        for repeat in range(args.repeats):
            rec_path, raw_path = Path(tmp) / f"rec{repeat}.duckdb", Path(tmp) / f"raw{repeat}.duckdb"
            seconds, cpu, calls, flushes = run_recorder(rec_path, args.steps, tensors, args.flush_interval)
            batches, drain_seconds = arrow_batches(args.steps, tensors, max(flushes, 1))
            raw_seconds, raw_cpu = run_raw(raw_path, batches)
            for key, value in (("rec", seconds), ("raw", raw_seconds), ("rec_cpu", cpu), ("raw_cpu", raw_cpu), ("calls", calls), ("drain", drain_seconds)):
                rates[key].append(events / value)
            print(f"  run {repeat}: recorder {events / seconds / 1e6:5.2f} M ev/s ({flushes} flushes)  "
                  f"raw {events / raw_seconds / 1e6:5.2f} M ev/s  ratio {raw_seconds / seconds:.3f}  |  "
                  f"per CPU-second: recorder {events / cpu / 1e6:5.2f} M, raw {events / raw_cpu / 1e6:5.2f} M, "
                  f"ratio {raw_cpu / cpu:.3f}  |  load {os.getloadavg()[0]:.1f}")
            for path in (rec_path, raw_path):
                path.unlink()
    med = {key: statistics.median(values) for key, values in rates.items()}
    print(f"median wall: recorder {med['rec'] / 1e6:.2f} M events/s, raw Arrow append {med['raw'] / 1e6:.2f} M events/s, "
          f"ratio {med['rec'] / med['raw']:.3f}")
    print(f"median CPU:  recorder {med['rec_cpu'] / 1e6:.2f} M events/CPU-s, raw {med['raw_cpu'] / 1e6:.2f} M events/CPU-s, "
          f"ratio {med['rec_cpu'] / med['raw_cpu']:.3f}")
    print(f"recorder stages: engine-side calls (buffering) {med['calls'] / 1e6:,.0f} M events/s, "
          f"drain to Arrow {med['drain'] / 1e6:,.1f} M events/CPU-s")


if __name__ == "__main__":
    main()
