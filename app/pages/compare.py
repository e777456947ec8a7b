"""Compare: two recorded runs, or two checkpoints run on one input, side by side with linked cursors.

Below the two panes, the difference views: cell occupancy A - B, both survival curves with a
log-rank test, accuracy-vs-distance overlaid, and the overlap of stored moments matched by
divergence. Both runs must come from one memory family.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from app import cache, live_driver, panels, state
from app.figures import diff, survival
from app.state import SAMPLE_MODELS, parse_app_args
from tracing.folders import list_traces, resolve_inside

SIDES = ("A", "B")
MAX_DIFF_CELLS = 250_000


# -- choosing the two runs ------------------------------------------------------------------------


def pick_recorded(side: str, folder: Path, traces: list, default: int) -> panels.RunRef | None:
    """Trace and run of one side, from the traces folder."""
    names = [trace.relative for trace in traces]
    name = st.selectbox(f"Trace {side}", names, index=min(default, len(names) - 1), key=f"cmp-{side}-trace")
    path = resolve_inside(folder, name)
    runs = cache.runs(path)
    if runs.empty:
        st.warning(f"{name} holds no runs; pick another trace for {side}.")
        return None
    by_id = runs.set_index("run_id")
    run_id = st.selectbox(
        f"Run {side}", list(runs["run_id"]), key=f"cmp-{side}-run",
        index=min(1 if side == "B" and len(runs) > 1 and default == 0 else 0, len(runs) - 1),
        format_func=lambda rid: f"{by_id.at[rid, 'name'] or rid} · {by_id.at[rid, 'family']} · {by_id.at[rid, 'status']}",
    )
    return panels.RunRef(str(path), run_id, label=f"{side}: {by_id.at[run_id, 'name'] or run_id}")


def recorded_runs() -> list[panels.RunRef] | None:
    folder = state.read_view_state().folder
    if not folder.is_dir():
        st.error(f"Folder {folder} does not exist. Start the app with --traces DIR or pick a folder on Replay.")
        return None
    traces = list_traces(folder)
    if not traces:
        st.warning(f"No traces in {folder}. Record runs on the Live page first, or pick a folder on Replay.")
        return None
    columns = st.columns(2)
    refs = []
    for side, column in zip(SIDES, columns):
        with column:
            ref = pick_recorded(side, folder, traces, default=0)
        if ref is None:
            return None
        refs.append(ref)
    return refs


def checkpoint_runs() -> list[panels.RunRef] | None:
    """Two checkpoints on one task input: run both (recorded under runs/) and return their runs."""
    found = live_driver.find_checkpoints(SAMPLE_MODELS)
    shipped = [str(p) for kind in live_driver.CHECKPOINT_KINDS for p in found[kind]]
    columns = st.columns(2)
    folders = []
    for side, column in zip(SIDES, columns):
        with column:
            default = shipped[min(SIDES.index(side), len(shipped) - 1)] if shipped else ""
            folders.append(st.text_input(
                f"Checkpoint {side}", value=default, key=f"cmp-{side}-ckpt",
                help="A checkpoint folder (model.safetensors + config.json), e.g. under sample_traces/models/.",
            ).strip())
    task_col, seed_col, button_col = st.columns([2, 1, 1])
    from engine.tasks import TASKS

    trained = None
    if folders[0]:
        try:
            trained = live_driver.training_task(folders[0])
        except ValueError:
            trained = None
    names = list(TASKS)
    task = task_col.selectbox("Task input (both models)", names, index=names.index(trained) if trained in names else 0,
                              key="cmp-task", help="Default: the task checkpoint A was trained on.")
    seed = seed_col.number_input("Seed", 0, 1_000_000, 1234, key="cmp-seed")
    if not all(folders):
        st.info("Type two checkpoint folders to compare.")
        return None
    try:
        families = [live_driver.checkpoint_family(folder) for folder in folders]
    except ValueError as exc:
        st.error(f"{exc}. Pick a checkpoint folder written by `memscope train`.")
        return None
    if families[0] != families[1]:
        st.error(
            f"Checkpoint A is a {families[0]} model and B a {families[1]} model: their memories have different "
            "cells, so they cannot be compared cell by cell. Pick two checkpoints of one family."
        )
        return None
    if button_col.button("Run both", type="primary", key="cmp-run", icon=":material/play_arrow:"):
        trace = live_driver.default_trace(parse_app_args().runs, prefix="compare")
        refs = []
        with st.spinner("Running both checkpoints on the same input..."):
            for side, folder in zip(SIDES, folders):
                try:
                    checkpoint = cache.cached_model(families[0], folder, "cpu")
                    run = live_driver.CheckpointRun(checkpoint, task=task, seed=int(seed), trace=trace,
                                                    name=f"{side}: {Path(folder).name}")
                except ValueError as exc:
                    st.error(f"Checkpoint {side}: {exc}.")
                    return None
                refs.append(panels.RunRef(str(trace), run.run_id, label=run.name))
        st.session_state["cmp-checkpoint-refs"] = refs
    return st.session_state.get("cmp-checkpoint-refs")


# -- the views -----------------------------------------------------------------------------------


def family_of(ref: panels.RunRef) -> str:
    runs = cache.runs(ref.path)
    return str(runs.set_index("run_id").at[ref.run_id, "family"])


def last_step(ref: panels.RunRef) -> int:
    highs = [int(f["step"].max()) for f in (cache.query(ref.path, "timeline", run_id=ref.run_id),
                                             cache.query(ref.path, "event_counts", run_id=ref.run_id)) if len(f)]
    return max(highs) if highs else 0


def side_by_side(refs: list[panels.RunRef], cursor: int) -> None:
    columns = st.columns(2)
    for side, ref, column in zip(SIDES, refs, columns):
        with column:
            st.subheader(ref.label or side)
            steps = cache.query(ref.path, "timeline", run_id=ref.run_id)
            if len(steps) and steps["token_text"].notna().any():
                panels.tokens_panel(ref, cursor, key=f"cmp-{side}-tokens")
            panels.timeline_panel(ref, cursor, key=f"cmp-{side}-tl")
            panels.heatmap_panel(ref, cursor, key=f"cmp-{side}-hm")


def _labels(refs: list[panels.RunRef]) -> tuple[str, str]:
    return tuple(ref.label or side for side, ref in zip(SIDES, refs))  # type: ignore[return-value]


@st.fragment
@panels.guarded
def occupancy_diff(refs: list[panels.RunRef], cursor: int) -> None:
    lives = [cache.query(ref.path, "lifecycles", run_id=ref.run_id) for ref in refs]
    memories = sorted(set(lives[0]["memory"]) & set(lives[1]["memory"])) if all(len(l) for l in lives) else []
    if not memories:
        st.info("The two runs share no memory with written content, so there is no occupancy to compare.")
        return
    memory = st.selectbox("Memory", memories, key="cmp-occ-memory")
    lives = [panels.lifecycles_until(l[l["memory"] == memory], cursor) for l in lives]
    n_steps = cursor + 1
    n_cells = int(max(l["cell"].max() for l in lives if len(l)) + 1)
    cell_bin = max(1, -(-n_cells * n_steps // MAX_DIFF_CELLS))
    step_bin = 1
    while -(-n_cells // cell_bin) * -(-n_steps // step_bin) > MAX_DIFF_CELLS:
        step_bin *= 2
    frames = [diff.occupancy_frame(l, n_steps=n_steps, cell_bin=cell_bin, step_bin=step_bin) for l in lives]
    note = (f"showing {-(-n_cells // cell_bin) * -(-n_steps // step_bin):,} of {n_cells * n_steps:,} cell-steps"
            if cell_bin > 1 or step_bin > 1 else None)
    fig = diff.heatmap_diff_figure(frames[0], frames[1], cell_bin=cell_bin, step_bin=step_bin,
                                   labels=_labels(refs), title=f"Cell occupancy of {memory}, A - B", note=note)
    data = diff.heatmap_diff_frame(frames[0], frames[1], cell_bin=cell_bin, step_bin=step_bin)
    panels.show_figure(fig, data, name="compare-occupancy", key="cmp-occ", caption=(
        "Share of each cell's time holding live content (written and not yet overwritten, evicted, decayed, merged "
        "or pruned), A minus B: blue where A keeps content B does not, red the reverse, up to the cursor."))


@st.fragment
@panels.guarded
def survival_diff(refs: list[panels.RunRef], cursor: int) -> None:
    lives = [panels.lifecycles_until(cache.query(r.path, "lifecycles", run_id=r.run_id), cursor) for r in refs]
    if any(l.empty for l in lives):
        st.info("One of the runs has no written content up to the cursor; survival needs lives in both.")
        return
    fig = diff.survival_compare_figure(lives[0], lives[1], labels=_labels(refs))
    statistic, p_value = survival.logrank(lives[0], lives[1])
    both = pd.concat([l.assign(run=label) for l, label in zip(lives, _labels(refs))], ignore_index=True)
    panels.show_figure(fig, both, name="compare-survival", key="cmp-sv", caption=(
        f"Kaplan-Meier survival of memory content in both runs (B dashed). Log-rank test: chi2 = {statistic:.3g}, "
        f"p = {p_value:.3g}" + (" (the lifetimes differ)." if p_value < 0.05 else " (no significant difference).")))


@st.fragment
@panels.guarded
def accuracy_diff(refs: list[panels.RunRef]) -> None:
    metrics = [cache.query(r.path, "metrics", run_id=r.run_id) for r in refs]
    curves = [m[m["x"].notna()] for m in metrics]
    names = sorted(set(curves[0]["name"]) | set(curves[1]["name"]))
    if not names:
        st.info("Neither run recorded accuracy-vs-distance curves (moment-memory runs have none).")
        return
    name = st.selectbox("Metric", names, index=names.index("accuracy") if "accuracy" in names else 0, key="cmp-metric")
    fig = diff.metric_overlay_figure(curves[0], curves[1], name, labels=_labels(refs))
    both = pd.concat([c[c["name"] == name].assign(run=l) for c, l in zip(curves, _labels(refs))], ignore_index=True)
    panels.show_figure(fig, both, name=f"compare-{name}", key="cmp-acc",
                       caption=f"{name} of both runs against distance (or pairs, or task): A solid, B dashed.")


@st.fragment
@panels.guarded
def moments_diff(refs: list[panels.RunRef], cursor: int) -> None:
    sigs = [cache.query(r.path, "signatures", run_id=r.run_id) for r in refs]
    sigs = [s[s["step"] <= cursor].reset_index(drop=True) for s in sigs]
    if any(s.empty for s in sigs):
        st.info("Stored moments are compared when both runs stored some (moment memory) up to the cursor.")
        return
    limit = st.slider("Match when the Hellinger distance is at most", 0.0, 1.0, 0.25, 0.01, key="cmp-div")
    fig = diff.moment_overlap_figure(sigs[0], sigs[1], labels=_labels(refs), max_divergence=limit)
    pairs, counts, _ = diff.moment_overlap(sigs[0], sigs[1], max_divergence=limit)
    cols = st.columns(4)
    cols[0].metric("Only in A", counts["only A"])
    cols[1].metric("In both", counts["both"])
    cols[2].metric("Only in B", counts["only B"])
    cols[3].metric("Jaccard", f"{counts['jaccard']:.2f}")
    panels.show_figure(fig, pairs, name="compare-moments", key="cmp-mo", caption=(
        "Stored moments of A and B matched by divergence: two moments match when each is the other's nearest "
        "neighbour (Hellinger distance of their top-k distributions) within the limit."))


@panels.guarded
def aligned_signatures(refs: list[panels.RunRef], cursor: int) -> None:
    """Both runs' stored signatures in one UMAP coordinate system (joint fit or Procrustes)."""
    from app.figures.projection import projection_figure, projection_points, shared_axis_range
    from app.projection import ProjectionParams, aligned_projection

    sigs = [cache.query(r.path, "signatures", run_id=r.run_id) for r in refs]
    sigs = [s[s["step"] <= cursor].reset_index(drop=True) for s in sigs]
    if min(len(s) for s in sigs) < 4:
        st.info("An aligned projection needs at least 4 stored signatures in each run up to the cursor.")
        return
    if not panels.umap_ready(key="cmp-pj"):
        return
    method = st.segmented_control("Alignment", ["joint", "procrustes"], default="joint", key="cmp-align", required=True,
                                  help="joint: one UMAP of both runs; procrustes: one UMAP each, B rotated onto A "
                                       "through the moments matched by divergence")
    points_a, points_b, note = aligned_projection(sigs[0], sigs[1], ProjectionParams(seed=0), method=method,
                                                  cache_dir=cache.PROJECTION_CACHE)
    shown = [projection_points(p, color_by="trigger") for p in (points_a, points_b)]
    axes = shared_axis_range(*shown)
    columns = st.columns(2)
    for label, pts, column, side in zip(_labels(refs), shown, columns, SIDES):
        with column:
            fig = projection_figure(pts, color_by="trigger", note=note, title=f"{label}: stored signatures", axis_range=axes)
            panels.show_figure(fig, pts, name=f"compare-signatures-{side}", key=f"cmp-pj-{side}", caption=(
                "Both panes share one coordinate system, so a region means the same kind of moment in A and B."))


def main() -> None:
    st.title("Compare")
    st.caption("Two runs of one memory family on the same input, side by side with one cursor, then their differences.")
    mode = st.segmented_control("Compare", ["Two recorded runs", "Two checkpoints on one input"],
                                default="Two recorded runs", key="cmp-mode", required=True)
    refs = recorded_runs() if mode == "Two recorded runs" else checkpoint_runs()
    if not refs:
        return
    families = [family_of(ref) for ref in refs]
    if families[0] != families[1]:
        st.error(
            f"Run A is a {families[0]} run and run B a {families[1]} run: their memories have different cells, so "
            "they cannot be compared. Pick two runs of one family."
        )
        return
    high = max(last_step(ref) for ref in refs)
    cursor = st.slider("Linked cursor (step, both runs)", 0, max(high, 1), high, key="cmp-cursor")
    side_by_side(refs, cursor)
    st.header("Differences")
    tabs = st.tabs(["Cell occupancy A - B", "Survival", "Accuracy vs distance", "Stored moments", "Signatures (aligned UMAP)"])
    with tabs[0]:
        occupancy_diff(refs, cursor)
    with tabs[1]:
        survival_diff(refs, cursor)
    with tabs[2]:
        accuracy_diff(refs)
    with tabs[3]:
        moments_diff(refs, cursor)
    with tabs[4]:
        st.fragment(run_every=3 if panels.umap_polling() else None)(aligned_signatures)(refs, cursor)


panels.guarded(main)()
