"""Ingest benchmark: memory events per second through DuckDBRecorder vs a raw Arrow append.

Workload (engine-style): every step, one ``rec.events(...)`` call with torch tensors for
``batch x heads x top-k`` slot reads (default 64 x 4 x 8 = 2,048 events per call).

- recorder: a fresh ``DuckDBRecorder`` (background flushes every ``--flush-interval`` s or every
  2 M buffered rows, file released between flushes); timed from the first call until ``finish()``
  has committed everything, so the rate is what the writer sustains end to end (calls -> lean Arrow
  tables -> DuckDB, building the next table while DuckDB appends the previous one).
- raw: the same Arrow batches the recorder appends (lean per-stream layout, built untimed by the
  recorder's own ``build`` from the same flushes' slices of ``SLICE_ROWS`` rows), appended to a
  fresh file through ONE open connection with the writer's DuckDB settings (``threads = 2``), then
  closed (which checkpoints, as the recorder's release of the file does): once with one statement
  per flush (as the recorder issues them: the recorder's own overhead), once with ONE statement for
  everything (the fastest way DuckDB takes these batches: also the cost of flushing at all).

A warm-up recorder run of the same size comes first (imports, first-call costs, and the slice
buffers a process keeps between recorders: ``tracing.buffers``); ``--cold`` empties that store before
every recorder run, so each pays for mapping fresh memory as the first run of a process does.
Both append with :func:`tracing.appends.append_lean`. Rates are given per wall-clock second and
per CPU-second of the process (all threads); the ratio recorder/raw is the recorder's cost over
the bare append (target >= 0.90). Runs alternate; medians of ``--repeats``.

    python bench/ingest.py                # 2,500 steps = 5.1 M events, 5 repeats
    python bench/ingest.py --cold         # every recorder run as the first of its process
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
import numpy as np
import pyarrow as pa
import torch

from tracing.appends import append_lean, register_streams
from tracing.buffers import release_retained
from tracing.connection import create_schema
from tracing.flushing import SLICE_ROWS, slices
from tracing.hosts import WRITER_THREADS
from tracing.recorder import BufferedRecorder
from tracing.writer import DuckDBRecorder

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


def bootstrap_interval(values: list[float], resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """2.5th and 97.5th percentiles of the median of ``values`` resampled with replacement: how far the
    median of this many noisy runs can move (the raw append alone varies by 10-15 % between runs here)."""
    rng = np.random.default_rng(seed)
    medians = np.median(rng.choice(np.asarray(values), size=(resamples, len(values))), axis=1)
    return float(np.percentile(medians, 2.5)), float(np.percentile(medians, 97.5))


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


def run_recorder(path: Path, steps: int, tensors, flush_interval: float) -> tuple[float, float, float, list[int]]:
    """(seconds until all rows are committed, CPU seconds, seconds in the engine's calls, rows of each flush)."""
    flushed = [0]
    rec = DuckDBRecorder(path, name="bench", family="memnet", flush_interval=flush_interval, on_flush=flushed.append,
                         index_on_finish=False)  # ingest only: finish() must not add indexing time
    start, cpu = time.perf_counter(), cpu_seconds()
    record_steps(rec, steps, tensors)
    calls = time.perf_counter() - start
    rec.finish()
    seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    return seconds, cpu, calls, [b - a for a, b in zip(flushed, flushed[1:]) if b > a]


def lean_batches(flush_rows: list[int], tensors, per_step: int) -> tuple[list[list[pa.Table]], list[tuple], float]:
    """The Arrow tables the recorder appends for the same events, flush by flush (``flush_rows`` rows
    each: slices of SLICE_ROWS rows, stream ids as a fresh file numbers them), the ``streams`` rows
    they need, and the CPU seconds the build took."""
    buffer = BufferedRecorder(RUN_ID)
    groups, build_seconds, step = [], 0.0, 0
    for rows in flush_rows:
        record_steps(buffer, rows // per_step, tensors, first=step)
        step += rows // per_step
        start = cpu_seconds()
        groups.append([buffer.build(piece.table, piece.chunks) for piece in slices(buffer.take())])
        build_seconds += cpu_seconds() - start
    streams = [(i, RUN_ID, *key) for i, key in enumerate(buffer.streams.keys)]
    return groups, streams, build_seconds


def run_raw(path: Path, groups: list[list[pa.Table]], streams: list[tuple], one_statement: bool) -> tuple[float, float]:
    """(seconds, CPU seconds) to append the batch ``groups`` through one connection and close it: one
    statement per group (as the recorder's flushes), or one statement for all of them."""
    con = duckdb.connect(str(path))
    con.execute(f"SET threads = {WRITER_THREADS}")
    create_schema(con)
    con.execute("INSERT INTO runs (run_id, created, status, family, schema_version) VALUES (?, now(), 'running', 'memnet', 2)",
                [RUN_ID])
    schema = groups[0][0].schema
    start, cpu = time.perf_counter(), cpu_seconds()
    register_streams(con, streams)
    for group in [[t for g in groups for t in g]] if one_statement else groups:
        append_lean(con, "stream_events", pa.RecordBatchReader.from_batches(schema, (b for t in group for b in t.to_batches())))
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
    parser.add_argument("--cold", action="store_true", help="empty the process's retained slice buffers before every recorder run")
    args = parser.parse_args()
    torch.set_num_threads(1)

    tensors = make_step_tensors(args.batch, args.heads, args.topk)
    events = args.steps * args.batch * args.heads * args.topk
    print(f"memscope ingest: {events:,} events ({args.steps} steps x {args.batch}x{args.heads}x{args.topk}), "
          f"{'cold' if args.cold else 'warm'} recorders, flush interval {args.flush_interval} s, slices of {SLICE_ROWS:,} rows, DuckDB threads {WRITER_THREADS}, "
          f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
          f"duckdb {duckdb.__version__}, pyarrow {pa.__version__}, torch {torch.__version__}")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp:
        warm = Path(tmp) / "warm.duckdb"
        run_recorder(warm, args.steps, tensors, args.flush_interval)  # imports, first-call costs, retained buffers
        per_step = args.batch * args.heads * args.topk
        rates: dict[str, list[float]] = {key: [] for key in ("rec", "raw", "one", "rec_cpu", "raw_cpu", "one_cpu", "calls", "build")}
        for repeat in range(args.repeats):
            paths = [Path(tmp) / f"{kind}{repeat}.duckdb" for kind in ("rec", "raw", "one")]
            if args.cold:
                release_retained()
            stat = cpu_times()
            seconds, cpu, calls, flush_rows = run_recorder(paths[0], args.steps, tensors, args.flush_interval)
            groups, streams, build_seconds = lean_batches(flush_rows, tensors, per_step)  # untimed
            raw_seconds, raw_cpu = run_raw(paths[1], groups, streams, one_statement=False)
            one_seconds, one_cpu = run_raw(paths[2], groups, streams, one_statement=True)
            steal = steal_share(stat, cpu_times())
            measured = (("rec", seconds), ("raw", raw_seconds), ("one", one_seconds), ("rec_cpu", cpu), ("raw_cpu", raw_cpu),
                        ("one_cpu", one_cpu), ("calls", calls), ("build", build_seconds))
            for key, value in measured:
                rates[key].append(events / value)
            print(f"  run {repeat}: {len(flush_rows)} flushes | wall M ev/s: recorder {events / seconds / 1e6:5.2f}, "
                  f"raw {events / raw_seconds / 1e6:5.2f} (ratio {raw_seconds / seconds:.3f}), "
                  f"raw one statement {events / one_seconds / 1e6:5.2f} (ratio {one_seconds / seconds:.3f}) | "
                  f"M ev/CPU-s: recorder {events / cpu / 1e6:4.2f}, raw {events / raw_cpu / 1e6:4.2f} ({raw_cpu / cpu:.3f}), "
                  f"one {events / one_cpu / 1e6:4.2f} ({one_cpu / cpu:.3f}) | load {os.getloadavg()[0]:.2f}, steal {steal:.0%}")
            for path in paths:
                path.unlink()
    med = {key: statistics.median(values) for key, values in rates.items()}
    for label, key in (("raw, the recorder's statements", "raw"), ("raw, one statement", "one")):
        print(f"median wall: recorder {med['rec'] / 1e6:.2f} M events/s, {label} {med[key] / 1e6:.2f} M events/s, "
              f"ratio {med['rec'] / med[key]:.3f}")
        print(f"median CPU:  recorder {med['rec_cpu'] / 1e6:.2f} M events/CPU-s, {label} {med[key + '_cpu'] / 1e6:.2f} "
              f"M events/CPU-s, ratio {med['rec_cpu'] / med[key + '_cpu']:.3f}")
    paired = [recorder / raw for recorder, raw in zip(rates["rec"], rates["raw"])]  # each run against its own raw run
    low, high = bootstrap_interval(paired)
    print(f"paired wall ratios (recorder / raw of the same run, the recorder's statements): median {statistics.median(paired):.3f}, "
          f"95 % bootstrap interval of the median {low:.3f}-{high:.3f}, {sum(r >= 0.9 for r in paired)} of {len(paired)} runs >= 0.90")
    print(f"recorder stages: engine-side calls (buffering, incl. back-pressure waits) {med['calls'] / 1e6:,.0f} M events/s, "
          f"build of the lean Arrow tables {med['build'] / 1e6:,.1f} M events/CPU-s")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
