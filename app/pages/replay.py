"""Replay: pick a traces folder, a trace file and a run; a time cursor drives every panel.

The cursor is a slider with play / pause / step buttons. Folder, trace, run and cursor are kept in
the URL (``?trace=...&run=...&cursor=...``), so a link reopens exactly this view. Files are only
read: the page opens traces read-only and never writes to them.
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import streamlit as st

from app import cache, panels, state
from tracing.folders import list_traces, resolve_inside

PLAY_INTERVAL_S = 0.6
K_FOLDER, K_TRACE, K_RUN, K_CURSOR = "replay-folder", "replay-trace", "replay-run", "replay-cursor"
K_PLAYING, K_PENDING, K_TICK, K_SPEED, K_URL, K_HIGH = (
    "replay-playing", "replay-pending", "replay-last-tick", "replay-speed", "replay-url-seen", "replay-high",
)


def _apply_url(view: state.ViewState) -> None:
    """When the URL changed since this page last wrote it (a shared link, Runs' links), obey it."""
    seen = (str(view.folder), view.trace, view.run, view.cursor)
    if st.session_state.get(K_URL) == seen:
        return
    st.session_state[K_URL] = seen
    st.session_state[K_FOLDER] = str(view.folder)
    if view.trace is not None:
        st.session_state[K_TRACE] = view.trace
    if view.run is not None:
        st.session_state[K_RUN] = view.run
    if view.cursor is not None:
        st.session_state[K_CURSOR] = view.cursor
    st.session_state[K_PLAYING] = False


def _remember_url(**changes: object) -> None:
    state.write_view_state(**changes)
    view = state.read_view_state()
    st.session_state[K_URL] = (str(view.folder), view.trace, view.run, view.cursor)


def pick_trace(folder: Path) -> tuple[str, Path] | None:
    """The trace file chosen in ``folder`` (relative name, absolute path), or None with a message."""
    if not folder.is_dir():
        st.error(f"Folder {folder} does not exist. Type the path of a folder that holds .duckdb traces.")
        return None
    traces = list_traces(folder)
    if not traces:
        st.warning(
            f"No traces (.duckdb files) in {folder}. Record one on the Live page, run "
            "`memscope trace ...`, or type another folder above."
        )
        return None
    names = [trace.relative for trace in traces]
    if st.session_state.get(K_TRACE) not in names:
        st.session_state[K_TRACE] = names[0]
    name = st.selectbox("Trace file", names, key=K_TRACE)
    return name, resolve_inside(folder, name)


def pick_run(path: Path) -> pd.Series | None:
    """The run chosen in the trace, with a warning for empty, unfinished or crashed runs."""
    runs = cache.runs(path)
    if runs.empty:
        st.warning(f"{path.name} holds no runs yet. Record one on the Live page or pick another trace.")
        return None
    ids = list(runs["run_id"])
    if st.session_state.get(K_RUN) not in ids:
        st.session_state[K_RUN] = ids[0]
    by_id = runs.set_index("run_id")
    run_id = st.selectbox(
        "Run", ids, key=K_RUN,
        format_func=lambda rid: f"{by_id.at[rid, 'name'] or rid} · {by_id.at[rid, 'family']} · {by_id.at[rid, 'status']}",
    )
    return by_id.loc[run_id].copy().rename(run_id)


def warn_about(run: pd.Series) -> bool:
    """Say what is special about the run; False when there is nothing to show."""
    if run["status"] == "running":
        st.info(
            "This run is still being written. The view shows what has been flushed so far and follows new "
            "steps every few seconds (a cursor on the last step moves with them).", icon=":material/hourglass_top:",
        )
        if st.toggle("Follow the writer", value=True, key="replay-follow"):
            _watch(str(run.get("path")), str(run.name))
    elif run["status"] == "crashed":
        st.warning(
            "This run's writer stopped without finishing it (crashed). Showing what it flushed before it died.",
            icon=":material/warning:",
        )
    if int(run.get("n_steps") or 0) == 0 and int(run.get("n_events") or 0) == 0:
        st.warning(
            "This run is empty: it recorded no steps and no memory events. Pick another run, "
            "or record again on the Live page."
        )
        return False
    return True


WATCH_S = 2.0


@st.fragment(run_every=WATCH_S)
def _watch(path: str, run_id: str) -> None:
    """While a run is being written: rerun the page when its file changed (new flushes)."""
    stamp = cache.file_stamp(path)
    key = f"replay-stamp-{run_id}"
    seen = st.session_state.get(key)
    st.session_state[key] = stamp
    if seen is not None and seen != stamp:
        st.rerun()


def last_step(ref: panels.RunRef) -> int:
    """The highest step the run recorded (tokens or memory events)."""
    steps = cache.query(ref.path, "timeline", run_id=ref.run_id)
    counts = cache.query(ref.path, "event_counts", run_id=ref.run_id)
    highs = [int(frame["step"].max()) for frame in (steps, counts) if len(frame)]
    return max(highs) if highs else 0


def _move(delta: int | None = None, to: int | None = None, high: int = 0) -> None:
    current = int(st.session_state.get(K_CURSOR, 0))
    st.session_state[K_CURSOR] = max(0, min(high, to if to is not None else current + (delta or 0)))
    st.session_state[K_PLAYING] = False


def _toggle_play(high: int) -> None:
    playing = not st.session_state.get(K_PLAYING, False)
    if playing and int(st.session_state.get(K_CURSOR, 0)) >= high:
        st.session_state[K_CURSOR] = 0
    st.session_state[K_PLAYING] = playing
    st.session_state[K_TICK] = 0.0


def cursor_controls(high: int) -> int:
    """Slider plus first / back / play-pause / forward / last buttons; returns the cursor."""
    pending = st.session_state.pop(K_PENDING, None)
    if pending is not None:
        st.session_state[K_CURSOR] = pending
    previous_high = st.session_state.get(K_HIGH)
    if previous_high is not None and high > previous_high and st.session_state.get(K_CURSOR) == previous_high:
        st.session_state[K_CURSOR] = high  # the cursor sat on the last step: follow the growing run
    st.session_state[K_HIGH] = high
    st.session_state[K_CURSOR] = max(0, min(high, int(st.session_state.get(K_CURSOR, high))))
    playing = st.session_state.get(K_PLAYING, False)
    buttons = st.columns([1, 1, 1.4, 1, 1, 2.6, 7])
    buttons[0].button("", icon=":material/first_page:", key="replay-first", help="First step",
                      on_click=_move, kwargs={"to": 0, "high": high})
    buttons[1].button("", icon=":material/chevron_left:", key="replay-back", help="Step back",
                      on_click=_move, kwargs={"delta": -1, "high": high})
    buttons[2].button("Pause" if playing else "Play", key="replay-play",
                      icon=":material/pause:" if playing else ":material/play_arrow:",
                      on_click=_toggle_play, kwargs={"high": high}, type="primary")
    buttons[3].button("", icon=":material/chevron_right:", key="replay-forward", help="Step forward",
                      on_click=_move, kwargs={"delta": 1, "high": high})
    buttons[4].button("", icon=":material/last_page:", key="replay-last", help="Last step",
                      on_click=_move, kwargs={"to": high, "high": high})
    buttons[5].selectbox("Speed", [1, 2, 5, 10], key=K_SPEED, label_visibility="collapsed",
                         format_func=lambda s: f"{s} step{'s' if s > 1 else ''} / tick")
    if high == 0:
        st.caption("This run has a single step.")
        return 0
    cursor = st.slider("Time cursor (step)", 0, high, key=K_CURSOR)
    if playing:
        _ticker(high)
    return cursor


@st.fragment(run_every=PLAY_INTERVAL_S)
def _ticker(high: int) -> None:
    """While playing: every interval, move the cursor and rerun the page (every panel follows)."""
    now = time.monotonic()
    if not st.session_state.get(K_PLAYING) or now - st.session_state.get(K_TICK, 0.0) < PLAY_INTERVAL_S * 0.8:
        return
    st.session_state[K_TICK] = now
    target = int(st.session_state.get(K_CURSOR, 0)) + int(st.session_state.get(K_SPEED, 1))
    if target >= high:
        target, st.session_state[K_PLAYING] = high, False
    st.session_state[K_PENDING] = target
    st.rerun()


def run_summary(run: pd.Series) -> None:
    cols = st.columns(6)
    cols[0].metric("Family", str(run["family"]))
    cols[1].metric("Status", str(run["status"]))
    cols[2].metric("Steps", f"{int(run.get('n_steps') or 0):,}")
    cols[3].metric("Memory events", f"{int(run.get('n_events') or 0):,}")
    cols[4].metric("Moments", f"{int(run.get('n_moments') or 0):,}")
    model = str(run.get("model") or "-")
    cols[5].metric("Model", Path(model).name if "/" in model else model, help=model)
    if run.get("input"):
        with st.expander("Input"):
            st.text(str(run["input"])[:4000])


def show_panels(ref: panels.RunRef, cursor: int) -> None:
    """Every view of the run at the cursor."""
    panels.tokens_panel(ref, cursor, key="replay-tokens")
    left, right = st.columns(2)
    with left:
        st.subheader("Moment timeline")
        panels.timeline_panel(ref, cursor, key="replay-tl")
    with right:
        st.subheader("Cell heatmap")
        panels.heatmap_panel(ref, cursor, key="replay-hm")
    left, right = st.columns(2)
    with left:
        st.subheader("Content survival")
        panels.survival_panel(ref, cursor, key="replay-sv")
    with right:
        st.subheader("Stored signatures")
        panels.projection_panel(ref, cursor, key="replay-pj")
    st.subheader("Moments and resonance")
    panels.moments_panel(ref, cursor, key="replay-mo")
    panels.events_at_panel(ref, cursor, key="replay-ev")
    with st.expander("Metric curves (accuracy vs distance, forgetting)"):
        panels.curves_panel(ref, key="replay-cv")
    panels.run_parquet_button(ref, key="replay-run")


def main() -> None:
    st.title("Replay")
    st.caption(
        "Step through a recorded run. The cursor drives every panel: tokens, the entropy timeline, "
        "the cell heatmap, survival of memory content and the stored moments, each as they stood at that step."
    )
    view = state.read_view_state()
    _apply_url(view)
    top = st.columns([2, 2, 2])
    with top[0]:
        folder_text = st.text_input("Traces folder", key=K_FOLDER, help="Any folder of .duckdb traces; files are only read.")
    folder = Path(folder_text).expanduser().resolve()
    with top[1]:
        picked = pick_trace(folder)
    if picked is None:
        return
    name, path = picked
    with top[2]:
        run = pick_run(path)
    if run is None:
        return
    _remember_url(folder=folder, trace=name, run=run.name)
    run_summary(run)
    run["path"] = str(path)
    if not warn_about(run):
        return
    ref = panels.RunRef(str(path), str(run.name), label=str(run.get("name") or run.name))
    cursor = cursor_controls(last_step(ref))
    _remember_url(cursor=cursor)
    show_panels(ref, cursor)


panels.guarded(main)()
