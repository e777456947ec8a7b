"""A writer process for the crash and watch tests: records steadily into a trace, reports each flush.

Run as a script (``python tests/tracing/helpers_writer.py TRACE ...``, with the repository root on
``PYTHONPATH``: see :func:`start_writer`). Prints, one line each and
flushed at once: ``run <run_id>``, then ``flushed <rows>`` after every committed flush (the rows
the file is guaranteed to hold), and ``done <rows>`` after ``finish()``. ``--seconds 0`` records
until killed or until ``--stop-file`` exists; ``--no-finish`` exits without calling ``finish()``
(the atexit path); ``--big-flush N`` makes one long flush of N rows, announced by ``flushing``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from tracing.writer import DuckDBRecorder

ROWS_PER_STEP = 256
"""memory_events rows per recorded step (one ``events`` call: 32 batch x 8 top-k reads)."""


def start_writer(trace: Path, *args: str) -> subprocess.Popen[str]:
    """Start this script as a child process writing ``trace``; its report lines come on ``stdout``."""
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=str(root), PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [sys.executable, __file__, str(trace), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=root,
    )


def report(line: str) -> None:
    print(line, flush=True)


def big_flush(rec: DuckDBRecorder, rows: int, batch: np.ndarray, rng: np.random.Generator) -> None:
    """One small committed flush, then ``rows`` events in one long flush (announced by ``flushing``)."""
    rec.events(step=0, op="read", memory="slot", batch=batch, cell=rng.integers(0, 64, ROWS_PER_STEP))
    rec.steps(step=0, token_id=0)
    rec.flush()
    rec.events(step=1, op="write", memory="slot", cell=np.arange(rows), weight=rng.random(rows, dtype=np.float32))
    report("flushing")
    rec.flush()
    rec.finish()
    report(f"done {rec.flushed_rows}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("trace")
    parser.add_argument("--interval", type=float, default=0.2)
    parser.add_argument("--seconds", type=float, default=0.0, help="0: until killed (or --stop-file)")
    parser.add_argument("--stop-file", default=None, help="stop recording once this file exists")
    parser.add_argument("--step-sleep", type=float, default=0.005)
    parser.add_argument("--no-finish", action="store_true")
    parser.add_argument("--big-flush", type=int, default=0, help="after one step, flush this many rows at once")
    args = parser.parse_args()

    rec = DuckDBRecorder(
        args.trace,
        name="child writer",
        family="memnet",
        flush_interval=args.interval,
        on_flush=lambda rows: report(f"flushed {rows}"),
    )
    report(f"run {rec.run_id}")
    rng = np.random.default_rng(0)
    batch = np.repeat(np.arange(32, dtype=np.int32), 8)
    if args.big_flush:
        big_flush(rec, args.big_flush, batch, rng)
        return
    start = time.monotonic()
    step = 0
    stop = Path(args.stop_file) if args.stop_file else None
    while (args.seconds <= 0 or time.monotonic() - start < args.seconds) and not (stop and stop.exists()):
        rec.events(
            step=step,
            op="read",
            memory="slot",
            batch=batch,
            cell=rng.integers(0, 64, ROWS_PER_STEP),
            weight=rng.random(ROWS_PER_STEP, dtype=np.float32),
        )
        rec.steps(step=step, token_id=step % 50)
        step += 1
        time.sleep(args.step_sleep)
    if args.no_finish:
        report(f"exiting {step}")
        return
    rec.finish()
    report(f"done {rec.flushed_rows}")


if __name__ == "__main__":
    main()
