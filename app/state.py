"""The app's shareable state: the traces folder (command line) and trace, run, cursor (URL).

``memscope app`` starts ``streamlit run app/streamlit_app.py -- --traces DIR [--runs DIR]``;
Streamlit hands the arguments after ``--`` to the script as ``sys.argv[1:]``. Without them the
app opens on the repository's ``sample_traces/`` and records live runs under ``./runs``.

The view a user is looking at lives in the URL query string so a link reproduces it:

- ``folder``: the traces folder, only when it differs from the one the app was started on;
- ``trace``: the trace file, relative to the folder (never an absolute path);
- ``run``: the run id inside the trace;
- ``cursor``: the time step the Replay cursor stands on.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_TRACES = REPO_ROOT / "sample_traces"
SAMPLE_MODELS = SAMPLE_TRACES / "models"
QUERY_KEYS = ("folder", "trace", "run", "cursor")


@dataclass(frozen=True)
class AppArgs:
    """What the command line chose: where traces are read and where live runs are written."""

    traces: Path
    runs: Path


def parse_app_args(argv: list[str] | None = None) -> AppArgs:
    """Parse ``--traces DIR --runs DIR`` (unknown arguments, e.g. pytest's, are ignored).

    ``MEMSCOPE_TRACES`` / ``MEMSCOPE_RUNS`` stand in when the flags are absent (tests set them).
    """
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--traces", default=None)
    parser.add_argument("--runs", default=None)
    known, _ = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    traces = known.traces or os.environ.get("MEMSCOPE_TRACES") or SAMPLE_TRACES
    runs = known.runs or os.environ.get("MEMSCOPE_RUNS") or Path.cwd() / "runs"
    return AppArgs(traces=Path(traces).expanduser().resolve(), runs=Path(runs).expanduser().resolve())


@dataclass(frozen=True)
class ViewState:
    """The part of the view that a URL carries (see the module docstring)."""

    folder: Path
    trace: str | None
    run: str | None
    cursor: int | None


def _param(name: str) -> str | None:
    value = st.query_params.get(name)
    return value if value not in (None, "") else None


def read_view_state() -> ViewState:
    """The folder, trace, run and cursor the URL asks for (the folder defaults to the command line's)."""
    folder_param = _param("folder")
    folder = Path(folder_param).expanduser().resolve() if folder_param else parse_app_args().traces
    cursor_param = _param("cursor")
    try:
        cursor = int(cursor_param) if cursor_param is not None else None
    except ValueError:
        cursor = None
    return ViewState(folder=folder, trace=_param("trace"), run=_param("run"), cursor=cursor)


def write_view_state(**changes: object) -> None:
    """Put ``folder``/``trace``/``run``/``cursor`` into the URL; ``None`` removes a key.

    Only changed keys are written (every write costs a browser history update). The folder is
    written only when it is not the command line's folder, so default links stay short.
    """
    for key, value in changes.items():
        if key not in QUERY_KEYS:
            raise KeyError(f"not a shareable state key: {key}")
        if key == "folder" and value is not None and Path(str(value)).resolve() == parse_app_args().traces:
            value = None
        text = None if value is None else str(value)
        if text is None:
            if key in st.query_params:
                del st.query_params[key]
        elif st.query_params.get(key) != text:
            st.query_params[key] = text


def replay_link_params(trace: str, run: str, folder: Path | None = None) -> dict[str, str]:
    """Query parameters of a link that opens ``run`` of ``trace`` on the Replay page."""
    params = {"trace": trace, "run": run}
    if folder is not None and folder.resolve() != parse_app_args().traces:
        params["folder"] = str(folder.resolve())
    return params
