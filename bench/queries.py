"""Latency of every TraceStore query on a 10-million-event trace (target: < 200 ms each).

    python bench/queries.py                      # builds $TMPDIR/memscope_big_trace.duckdb first if missing
    python bench/queries.py --trace T --repeats 7

For each query it prints the median over ``--repeats`` runs (after one warm-up) of:
- ``store``: wall time of the real :class:`tracing.store.TraceStore` call, which attaches the
  file read-only for the call and detaches it (so a writer in another process can flush between
  calls); measured first, with no other connection to the file open in the process (an open one
  would lend the store its warm database instance, as DuckDB shares one per file and process);
- ``cpu``: the CPU time the process used for it (all DuckDB threads). On a machine shared with
  other jobs wall time swells with the load; CPU time barely does, and on an idle machine the
  wall time is at most about the CPU time (the file is in the page cache);
- ``held``: wall time of the same call on one connection held open for all of them (the
  baseline, measured after every store call), and ``ratio`` = store / held, what attaching per
  call costs.
Pass/fail is the store's wall time against the 200 ms target. The load average is printed.

``--index`` then copies the trace, runs ``memscope index`` on the copy (timed) and measures the
queries that read pre-aggregated tables when a run is indexed (lifecycles, event counts, heatmap axes).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import pandas as pd

from tracing.store import TraceStore, index_runs

TARGET_MS = 200.0
HERE = Path(__file__).resolve().parent


def queries(run: str) -> list[tuple[str, object]]:
    """(label, function of a store) for every query the app makes, on the big run ``run``."""
    return [
        ("runs()", lambda s: s.runs()),
        ("info()", lambda s: s.info()),
        ("heatmap write, all layers/heads", lambda s: s.heatmap(run, "write", memory="slot")),
        ("heatmap read, layer 0 head 1 batch 0", lambda s: s.heatmap(run, "read", memory="slot", layer=0, head=1, batch=0)),
        ("heatmap read, sum of weights", lambda s: s.heatmap(run, "read", memory="slot", agg="weight")),
        ("heatmap usage (cell_states)", lambda s: s.heatmap(run, "usage", memory="slot")),
        ("lifecycles (all writes)", lambda s: s.lifecycles(run)),
        ("timeline, 2,000-step window", lambda s: s.timeline(run, batch=0, start=10_000, stop=12_000)),
        ("timeline, whole run", lambda s: s.timeline(run, batch=0)),
        ("event_counts, 2,000-step window", lambda s: s.event_counts(run, start=10_000, stop=12_000)),
        ("event_counts, whole run", lambda s: s.event_counts(run)),
        ("events at one step", lambda s: s.events(run, step=30_000)),
        ("signatures", lambda s: s.signatures(run)),
        ("metrics", lambda s: s.metrics(run)),
        ("whatif entropy > 5", lambda s: s.whatif(run, "entropy", 5.0)),
    ]


def held_store(path: Path) -> tuple[TraceStore, duckdb.DuckDBPyConnection]:
    """A TraceStore whose queries all reuse one open connection (the baseline)."""
    store = TraceStore(path)
    con = duckdb.connect(str(path), read_only=True)

    @contextlib.contextmanager
    def reuse(validate: bool = False):
        yield con

    store._connect = reuse  # type: ignore[method-assign]  # baseline only
    return store, con


def median_ms(fn, store, repeats: int) -> tuple[float, float, int]:
    """Median wall and CPU milliseconds of ``fn(store)`` after one warm-up, and the rows it returned."""
    result = fn(store)  # warm-up
    walls, cpus = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = fn(store)
        walls.append((time.perf_counter() - start) * 1000)
        cpus.append((time.process_time() - start_cpu) * 1000)
    frame = getattr(result, "frame", result)
    rows = len(frame) if isinstance(frame, pd.DataFrame) else 1
    return statistics.median(walls), statistics.median(cpus), rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trace", type=Path, default=Path(tempfile.gettempdir()) / "memscope_big_trace.duckdb")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--index", action="store_true", help="also measure an indexed copy (memscope index)")
    args = parser.parse_args()
    if not args.trace.exists():
        subprocess.run([sys.executable, str(HERE / "make_big_trace.py"), "--out", str(args.trace)], check=True)
    store = TraceStore(args.trace)
    runs = store.runs()
    big = runs.loc[runs["n_events"].idxmax()]
    info = store.info()
    print(f"trace {args.trace}: {info['tables']['memory_events']:,} events, {info['size_bytes'] / 2**20:.0f} MiB; "
          f"big run {big['run_id']} ({big['n_events']:,} events, {big['n_steps']:,} steps)")
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, duckdb {duckdb.__version__}, "
          f"{dt.date.today()}, median of {args.repeats}")
    print(f"load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    misses = measure(args.trace, queries(big["run_id"]), args.repeats)
    print(f"{misses} of {len(queries(''))} queries over {TARGET_MS:.0f} ms; "
          f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    if args.index:
        copy = args.trace.with_name(args.trace.stem + "_indexed.duckdb")
        shutil.copyfile(args.trace, copy)
        start = time.perf_counter()
        index_runs(copy)
        print(f"\nmemscope index on a copy: {time.perf_counter() - start:.1f} s; the same queries on the indexed copy:")
        indexed = [(f"{label} [indexed]", fn) for label, fn in queries(big["run_id"]) if label.startswith(("lifecycles", "event_counts", "heatmap"))]
        misses = measure(copy, indexed, args.repeats)
        print(f"{misses} of {len(indexed)} over {TARGET_MS:.0f} ms; load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
        copy.unlink()


def measure(path: Path, labelled: list[tuple[str, object]], repeats: int) -> int:
    """Print one line per query (store wall, CPU, held wall, ratio); return how many missed the target."""
    store = TraceStore(path)
    measured = [median_ms(fn, store, repeats) for _, fn in labelled]  # before any other connection opens
    held, con = held_store(path)
    header = f"{'query':44} {'rows':>9} {'store ms':>9} {'cpu ms':>8} {'held ms':>9} {'ratio':>6}  target"
    print(header)
    print("-" * len(header))
    misses = 0
    for (label, fn), (store_ms, cpu_ms, rows) in zip(labelled, measured):
        held_ms, _, _ = median_ms(fn, held, repeats)
        ok = store_ms < TARGET_MS
        misses += not ok
        print(f"{label:44} {rows:>9,} {store_ms:>9.1f} {cpu_ms:>8.1f} {held_ms:>9.1f} {store_ms / held_ms:>6.2f}  {'ok' if ok else 'MISS'}")
    con.close()
    return misses

if __name__ == "__main__":
    main()
