"""Ingest benchmark: memory events per second through DuckDBRecorder vs a raw Arrow append.

Workload (engine-style): every step, one ``rec.events(...)`` call with torch tensors for
``batch x heads x top-k`` slot reads (default 64 x 4 x 8 = 2,048 events per call).

- recorder: a fresh ``DuckDBRecorder`` (background flushes every ``--flush-interval`` s or every
  2 M buffered rows, file released between flushes); timed from the first call until ``finish()``
  has committed everything, so the rate is what the writer sustains end to end (calls -> lean Arrow
  tables -> DuckDB, building the next table while DuckDB appends the previous one).
- raw: the same Arrow batches the recorder appends (lean per-stream layout, built untimed by the
  recorder's own ``build`` from slices of the same ``SLICE_ROWS`` rows), appended to a fresh file
  through ONE open connection with the writer's DuckDB settings (``threads = 2``) in ONE statement
  (a batch reader over all of them: the fastest way DuckDB takes them), then closed (which
  checkpoints, as the recorder's release of the file does).

Both append with :func:`tracing.appends.append_lean`. Rates are given per wall-clock second and
per CPU-second of the process (all threads); the ratio recorder/raw is the recorder's cost over
the bare append (target >= 0.90). Runs alternate; medians of ``--repeats``.

    python bench/ingest.py                # 2,500 steps = 5.1 M events, 5 repeats
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

from tracing.appends import append_lean, register_streams
from tracing.connection import create_schema
from tracing.flushing import SLICE_ROWS, slices
from tracing.recorder import BufferedRecorder
from tracing.writer import WRITER_THREADS, DuckDBRecorder

RUN_ID = "0" * 32


def cpu_seconds() -> float:
    """CPU time of this process, every thread (user + system): robust to other load on shared cores."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def steal_share(before: list[int], after: list[int]) -> float:
    """Share of the machine's CPU time taken by the hypervisor (``steal`` in /proc/stat) between two samples."""
    delta = [b - a for a, b in zip(before, after)]
    return delta[7] / max(1, sum(delta))


def cpu_times() -> list[int]:
    """The machine-wide ``cpu`` line of /proc/stat (jiffies: user, nice, system, idle, iowait, irq, softirq, steal)."""
    with open("/proc/stat", encoding="ascii") as stat:
        return [int(v) for v in stat.readline().split()[1:9]]


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


def record_steps(rec, steps: int, tensors: list[dict[str, torch.Tensor]]) -> None:
    """The engine's side: one ``events`` call per step (a slot-memory top-k read)."""
    for step in range(steps):
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


def lean_batches(steps: int, tensors) -> tuple[list[pa.Table], list[tuple], float]:
    """The recorder's Arrow tables for the same events (slices of SLICE_ROWS rows, stream ids as a fresh
    file numbers them), the ``streams`` rows they need, and the CPU seconds the build took."""
    buffer = BufferedRecorder(RUN_ID)
    record_steps(buffer, steps, tensors)
    start = cpu_seconds()
    batches = [buffer.build(piece.table, piece.chunks) for piece in slices(buffer.take())]
    build_seconds = cpu_seconds() - start
    streams = [(i, RUN_ID, *key) for i, key in enumerate(buffer.streams.keys)]
    return batches, streams, build_seconds


def run_raw(path: Path, batches: list[pa.Table], streams: list[tuple]) -> tuple[float, float]:
    """(seconds, CPU seconds) to append ``batches`` through one connection (open, append each, close)."""
    con = duckdb.connect(str(path))
    con.execute(f"SET threads = {WRITER_THREADS}")
    create_schema(con)
    con.execute("INSERT INTO runs (run_id, created, status, family, schema_version) VALUES (?, now(), 'running', 'memnet', 2)",
                [RUN_ID])
    start, cpu = time.perf_counter(), cpu_seconds()
    register_streams(con, streams)
    reader = pa.RecordBatchReader.from_batches(batches[0].schema, (b for batch in batches for b in batch.to_batches()))
    append_lean(con, "stream_events", reader)
    con.close()
    return time.perf_counter() - start, cpu_seconds() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=2500)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--topk", type=int, default=8)
    parser.add_argument("--flush-interval", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)

    tensors = make_step_tensors(args.batch, args.heads, args.topk)
    events = args.steps * args.batch * args.heads * args.topk
    print(f"memscope ingest: {events:,} events ({args.steps} steps x {args.batch}x{args.heads}x{args.topk}), "
          f"flush interval {args.flush_interval} s, slices of {SLICE_ROWS:,} rows, DuckDB threads {WRITER_THREADS}, "
          f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
          f"duckdb {duckdb.__version__}, pyarrow {pa.__version__}, torch {torch.__version__}")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp:
        warm = Path(tmp) / "warm.duckdb"
        run_recorder(warm, 50, tensors, args.flush_interval)  # imports, first-call costs
        batches, streams, build_seconds = lean_batches(args.steps, tensors)
        rates: dict[str, list[float]] = {"rec": [], "raw": [], "rec_cpu": [], "raw_cpu": [], "calls": []}
        for repeat in range(args.repeats):
            rec_path, raw_path = Path(tmp) / f"rec{repeat}.duckdb", Path(tmp) / f"raw{repeat}.duckdb"
            stat = cpu_times()
            seconds, cpu, calls, flushes = run_recorder(rec_path, args.steps, tensors, args.flush_interval)
            raw_seconds, raw_cpu = run_raw(raw_path, batches, streams)
            steal = steal_share(stat, cpu_times())
            for key, value in (("rec", seconds), ("raw", raw_seconds), ("rec_cpu", cpu), ("raw_cpu", raw_cpu), ("calls", calls)):
                rates[key].append(events / value)
            print(f"  run {repeat}: recorder {events / seconds / 1e6:5.2f} M ev/s ({flushes} flushes)  "
                  f"raw {events / raw_seconds / 1e6:5.2f} M ev/s  ratio {raw_seconds / seconds:.3f}  |  "
                  f"per CPU-second: recorder {events / cpu / 1e6:5.2f} M, raw {events / raw_cpu / 1e6:5.2f} M, "
                  f"ratio {raw_cpu / cpu:.3f}  |  load {os.getloadavg()[0]:.2f}, steal {steal:.0%}")
            for path in (rec_path, raw_path):
                path.unlink()
    med = {key: statistics.median(values) for key, values in rates.items()}
    print(f"median wall: recorder {med['rec'] / 1e6:.2f} M events/s, raw Arrow append {med['raw'] / 1e6:.2f} M events/s, "
          f"ratio {med['rec'] / med['raw']:.3f}")
    print(f"median CPU:  recorder {med['rec_cpu'] / 1e6:.2f} M events/CPU-s, raw {med['raw_cpu'] / 1e6:.2f} M events/CPU-s, "
          f"ratio {med['rec_cpu'] / med['raw_cpu']:.3f}")
    print(f"recorder stages: engine-side calls (buffering) {med['calls'] / 1e6:,.0f} M events/s, "
          f"build of the lean Arrow tables {events / build_seconds / 1e6:,.1f} M events/CPU-s")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
