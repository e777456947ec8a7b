"""Time from request to figure of every app view on a 10-million-event trace (target: < 1 s each).

    python bench/app_views.py                       # uses (or builds) $TMPDIR/memscope_big_trace.duckdb
    python bench/app_views.py --trace T --repeats 5

A view's request is its store query (``tracing.store.TraceStore``, one short-lived read-only
connection per query, as the app does) and its figure builder (``app.figures``). For each view it
prints the median over ``--repeats`` runs (after one warm-up run) of the query, the builder and
their sum (wall time), the CPU time of both (all threads of the process), the size of the
figure's JSON (what Streamlit ships to the browser), and the ratio of the total to the 1 s
target. Baselines run side by side in the same process:

- survival: bare lifelines fits (estimate + bands per head) vs ``km_frame`` (the builder's overhead);
- projection: a fresh UMAP fit (numba already warm) vs the cached projection (disk cache hit), a
  refit vs ``transform`` for one new live signature, and with ``--hellinger-baseline`` umap-learn's
  own sparse ``hellinger`` metric vs our Euclidean fit on ``sqrt(p)`` (same distances / sqrt 2).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from lifelines import KaplanMeierFitter  # noqa: E402

from app.figures.curves import metric_curves_figure  # noqa: E402
from app.figures.diff import heatmap_diff_figure, moment_overlap_figure, occupancy_frame, survival_compare_figure  # noqa: E402
from app.figures.heatmap import heatmap_figure, heatmap_note  # noqa: E402
from app.figures.projection import projection_figure, projection_points  # noqa: E402
from app.figures.survival import km_frame, survival_figure  # noqa: E402
from app.figures.timeline import timeline_figure  # noqa: E402
from app.figures.tokens import tokens_html  # noqa: E402
from app.projection import ProjectionParams, SignatureProjector, clear_model_cache, topk_matrix, vocab_width, warm_up  # noqa: E402
from tracing.store import TraceStore  # noqa: E402

TARGET_S = 1.0
WINDOW = (10_000, 12_000)


@dataclass
class View:
    """One view: ``query(store) -> data`` then ``build(data) -> figure or HTML``."""

    name: str
    query: Callable[[TraceStore], Any]
    build: Callable[[Any], Any]


def heatmap_view(run: str, value: str, label: str, **filters) -> tuple[Callable, Callable]:
    def build(result):
        fill = float("nan") if value in ("usage", "age", "norm") else 0.0
        return heatmap_figure(result.frame, cell_bin=result.cell_bin, step_bin=result.step_bin, title=label,
                              value_label=value, note=heatmap_note(result), fill=fill)
    return (lambda s: s.heatmap(run, value, memory="slot", **filters)), build


def views(run: str, cache_dir: Path) -> list[View]:
    """Every view of the app on the big run (Compare: batch row 0 against batch row 1)."""
    params = ProjectionParams(kind="topk", seed=0)

    def projected(sigs: pd.DataFrame):
        projector = SignatureProjector(params, cache_dir=cache_dir)
        points = projector.fit(sigs)
        return projection_figure(projection_points(points, color_by="trigger"), color_by="trigger", note=projector.note)

    def halves(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        return frame[frame["batch"] == 0], frame[frame["batch"] == 1]

    def occupancy_diff(lives: tuple[pd.DataFrame, pd.DataFrame]):
        a, b = lives
        n_steps = int(max(a["died"].max(), b["died"].max())) + 1
        step_bin = max(1, -(-n_steps // 1000))
        frames = [occupancy_frame(x[(x["layer"] == 0) & (x["head"] == 0)], n_steps=n_steps, step_bin=step_bin) for x in (a, b)]
        return heatmap_diff_figure(*frames, cell_bin=1, step_bin=step_bin, labels=("batch 0", "batch 1"))

    return [
        View("heatmap writes, slot, all heads", *heatmap_view(run, "write", "writes")),
        View("heatmap reads, L0 H1 batch 0", *heatmap_view(run, "read", "reads", layer=0, head=1, batch=0)),
        View("heatmap usage (cell states)", *heatmap_view(run, "usage", "usage")),
        View("survival by head", lambda s: s.lifecycles(run), lambda lives: survival_figure(lives, "head")),
        View("survival by write strength", lambda s: s.lifecycles(run), lambda lives: survival_figure(lives, "write_strength")),
        View("timeline, 2,000-step window",
             lambda s: (s.timeline(run, batch=0, start=WINDOW[0], stop=WINDOW[1]), s.event_counts(run, batch=0, start=WINDOW[0], stop=WINDOW[1])),
             lambda d: timeline_figure(d[0], d[1], metric="entropy", threshold=6.0, cursor=WINDOW[0] + 500)),
        View("timeline, whole run (57k steps)",
             lambda s: (s.timeline(run, batch=0), s.event_counts(run, batch=0)),
             lambda d: timeline_figure(d[0], d[1], metric="entropy", threshold=6.0, cursor=30_000)),
        View("tokens, 2,000-step window", lambda s: s.timeline(run, batch=0, start=WINDOW[0], stop=WINDOW[1]),
             lambda steps: tokens_html(steps, color_by="entropy", cursor=WINDOW[0] + 500)),
        View("UMAP of signatures (cached)", lambda s: s.signatures(run), projected),
        View("metric curve (loss)", lambda s: s.metrics(run), lambda m: metric_curves_figure(m, "loss")),
        View("compare: occupancy difference", lambda s: halves(s.lifecycles(run)), occupancy_diff),
        View("compare: survival + log-rank", lambda s: halves(s.lifecycles(run)), lambda d: survival_compare_figure(*d)),
        View("compare: moment overlap", lambda s: halves(s.signatures(run)), lambda d: moment_overlap_figure(*d)),
    ]


def median_time(fn: Callable[[], Any], repeats: int, *, cpu: list[float] | None = None) -> tuple[float, Any]:
    """Median wall seconds of ``repeats`` calls after one warm-up call, and the last result.

    With ``cpu`` given, the median CPU seconds of the process (all threads) is appended to it.
    """
    result = fn()
    times, cpu_times = [], []
    for _ in range(repeats):
        started, started_cpu = time.perf_counter(), time.process_time()
        result = fn()
        times.append(time.perf_counter() - started)
        cpu_times.append(time.process_time() - started_cpu)
    if cpu is not None:
        cpu.append(statistics.median(cpu_times))
    return statistics.median(times), result


def payload_kb(figure: Any) -> float:
    text = figure if isinstance(figure, str) else figure.to_json()
    return len(text.encode()) / 1024


def baselines(store: TraceStore, run: str, cache_dir: Path, repeats: int, hellinger: bool) -> list[tuple[str, float, float]]:
    """(what, baseline s, ours s) measured side by side."""
    lives = store.lifecycles(run)

    def raw_km():
        for _, part in lives.groupby(["layer", "head"]):
            KaplanMeierFitter().fit(part["duration"], part["observed"])

    raw, _ = median_time(raw_km, repeats)
    ours, _ = median_time(lambda: km_frame(lives, "head"), repeats)
    rows = [("survival by head: bare lifelines vs km_frame", raw, ours)]
    sigs = store.signatures(run)
    params = ProjectionParams(kind="topk", seed=0)
    clear_model_cache()
    started = time.perf_counter()
    SignatureProjector(params).fit(sigs)  # no disk cache, no model in memory: a real fit
    fresh = time.perf_counter() - started
    cached, _ = median_time(lambda: SignatureProjector(params, cache_dir=cache_dir).fit(sigs), repeats)
    rows.append((f"UMAP of {len(sigs):,} signatures: fresh fit vs cached", fresh, cached))
    projector = SignatureProjector(params)
    projector.fit(sigs)
    new = sigs.iloc[:1]
    placed, _ = median_time(lambda: projector.transform(new), repeats)
    rows.append(("UMAP: refit to add one live signature vs transform", fresh, placed))
    if hellinger:
        import umap

        dists = topk_matrix(sigs["topk_ids"], sigs["topk_probs"], width=vocab_width(sigs))
        started = time.perf_counter()
        umap.UMAP(metric="hellinger", random_state=0).fit(dists)
        rows.append(("UMAP: umap's sparse hellinger vs euclidean on sqrt(p)", time.perf_counter() - started, fresh))
    return rows


def ensure_trace(path: Path) -> None:
    if not path.exists():
        subprocess.run([sys.executable, str(HERE / "make_big_trace.py"), "--out", str(path)], check=True)


def main() -> None:
    from make_big_trace import DEFAULT_TRACE  # noqa: PLC0415 (bench/ is on sys.path when run as a script)

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trace", type=Path, default=DEFAULT_TRACE)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--hellinger-baseline", action="store_true", help="also time umap's own sparse hellinger fit (minutes)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    ensure_trace(args.trace)
    store = TraceStore(args.trace)
    runs = store.runs()
    run = runs.sort_values("n_events").iloc[-1]
    print(f"trace {args.trace}: run {run['run_id']} ({run['name']}), {int(run['n_events']):,} events, "
          f"{int(run['n_steps']):,} steps, {int(run['n_moments']):,} moments")
    print(f"device: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f}; "
          f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC")
    print(f"numba warm-up (UMAP compile, once per process): {warm_up():.1f} s")
    cache_dir = Path(tempfile.mkdtemp(prefix="memscope_bench_projection_"))
    header = f"{'view':<34} {'query ms':>9} {'build ms':>9} {'total ms':>9} {'cpu ms':>7} {'JSON KB':>8} {'/ 1 s':>6}"
    print(header)
    print("-" * len(header))
    totals = []
    for view in views(run["run_id"], cache_dir):
        cpu: list[float] = []
        query_s, data = median_time(lambda: view.query(store), args.repeats, cpu=cpu)
        build_s, figure = median_time(lambda: view.build(data), args.repeats, cpu=cpu)
        total = query_s + build_s
        totals.append(total)
        flag = "" if total < TARGET_S else "  over target"
        print(f"{view.name:<34} {query_s * 1e3:>9.0f} {build_s * 1e3:>9.0f} {total * 1e3:>9.0f} {sum(cpu) * 1e3:>7.0f} {payload_kb(figure):>8.0f} "
              f"{total / TARGET_S:>6.2f}{flag}")
    print(f"\n{sum(t < TARGET_S for t in totals)} of {len(totals)} views under {TARGET_S:.0f} s; "
          f"load average after: {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    print(f"\n{'baseline vs ours':<58} {'baseline ms':>11} {'ours ms':>9} {'ratio':>7}")
    for what, base, ours in baselines(store, run["run_id"], cache_dir, args.repeats, args.hellinger_baseline):
        print(f"{what:<58} {base * 1e3:>11.0f} {ours * 1e3:>9.0f} {base / ours:>6.1f}x")


if __name__ == "__main__":
    main()
