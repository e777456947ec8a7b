"""Runs: every run of every trace in the chosen folder, with status, model, input, sizes, links into Replay."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

import pandas as pd
import streamlit as st

from app import cache, panels, state
from tracing.folders import list_traces

REPLAY_PAGE = Path(__file__).resolve().parent / "replay.py"
COLUMNS = ["trace", "run_id", "name", "status", "family", "model", "input", "n_steps", "n_events",
           "n_moments", "created", "file_mb", "replay"]


def runs_table(folder: Path) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """One row per run of every trace under ``folder``, and ``(file, reason)`` for unreadable files."""
    rows: list[pd.DataFrame] = []
    unreadable: list[tuple[str, str]] = []
    for trace in list_traces(folder):
        name = trace.relative
        try:
            runs = cache.runs(trace.path)
        except Exception as exc:  # noqa: BLE001 - a bad file is listed with its reason, the rest still shows
            unreadable.append((name, panels.explain(exc)))
            continue
        if runs.empty:
            continue
        runs = runs.copy()
        runs["trace"] = name
        runs["file_mb"] = trace.size_bytes / 1e6
        runs["input"] = runs["input"].fillna("").astype(str).str.slice(0, 80)
        runs["replay"] = [
            "/replay?" + urlencode(state.replay_link_params(name, run_id, folder)) for run_id in runs["run_id"]
        ]
        rows.append(runs)
    table = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=COLUMNS)
    return table[[c for c in COLUMNS if c in table.columns]], unreadable


def main() -> None:
    st.title("Runs")
    st.caption("Every recorded run in the folder. Click a run's Replay link to step through it.")
    view = state.read_view_state()
    folder_text = st.text_input("Traces folder", value=str(view.folder), key="runs-folder")
    folder = Path(folder_text).expanduser().resolve()
    if not folder.is_dir():
        st.error(f"Folder {folder} does not exist. Type the path of a folder that holds .duckdb traces.")
        return
    state.write_view_state(folder=folder)
    table, unreadable = runs_table(folder)
    for name, reason in unreadable:
        st.warning(f"Skipped {name}: {reason}", icon=":material/warning:")
    if table.empty:
        st.warning(
            f"No runs in {folder}. Record one on the Live page (it is saved under runs/), "
            "or type a folder that holds memscope traces."
        )
        return
    counts = table["status"].value_counts()
    cols = st.columns(4)
    cols[0].metric("Runs", len(table))
    cols[1].metric("Complete", int(counts.get("complete", 0)))
    cols[2].metric("Running", int(counts.get("running", 0)))
    cols[3].metric("Crashed", int(counts.get("crashed", 0)))
    st.dataframe(
        table, hide_index=True, key="runs-table",
        column_config={
            "replay": st.column_config.LinkColumn("Replay", display_text="open", help="Open this run on Replay"),
            "file_mb": st.column_config.NumberColumn("File (MB)", format="%.2f"),
            "n_steps": st.column_config.NumberColumn("Steps"),
            "n_events": st.column_config.NumberColumn("Events"),
            "n_moments": st.column_config.NumberColumn("Moments"),
            "input": st.column_config.TextColumn("Input", width="medium"),
        },
    )
    st.subheader("Open a run")
    labels = [f"{row.trace} · {row.run_id} · {row.name or ''}" for row in table.itertuples()]
    choice = st.selectbox("Run", range(len(labels)), format_func=labels.__getitem__, key="runs-pick")
    row = table.iloc[int(choice)]
    st.page_link(
        st.Page(REPLAY_PAGE, url_path="replay"), label=f"Replay {row['run_id']}", icon=":material/replay:",
        query_params=state.replay_link_params(row["trace"], row["run_id"], folder),
    )


panels.guarded(main)()
