"""Cached reads of trace files and cached models, shared by every page.

Store queries are cached with ``st.cache_data`` under the file's path *and stamp* (modification
time and size of the ``.duckdb`` file and of its write-ahead log), so a rerun that changes nothing
costs a dictionary look-up, while a run that is still being written shows its new rows on the next
rerun. Every query opens the file read-only through :class:`tracing.store.TraceStore` and never
writes to it. Models are cached with ``st.cache_resource`` so a rerun never reloads weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from tracing.store import TraceStore

Stamp = tuple[int, int, int, int]


def file_stamp(path: str | Path) -> Stamp:
    """``(mtime_ns, size)`` of the trace and of its ``.wal`` (zeros where missing): the cache key."""
    path = Path(path)
    parts: list[int] = []
    for candidate in (path, path.with_name(path.name + ".wal")):
        try:
            stat = candidate.stat()
            parts += [stat.st_mtime_ns, stat.st_size]
        except OSError:
            parts += [0, 0]
    return tuple(parts)  # type: ignore[return-value]


@st.cache_resource(max_entries=64, show_spinner=False)
def _store(path: str, inode: int) -> TraceStore:
    """The validated store of one file (validation runs once per file; a replaced file is a new inode)."""
    del inode
    return TraceStore(path)


def _call(path: str, method: str, kwargs: dict[str, Any]) -> Any:
    """``TraceStore(path).<method>(**kwargs)`` on the kept store of the file."""
    try:
        inode = Path(path).stat().st_ino
    except OSError:
        inode = 0
    return getattr(_store(path, inode), method)(**kwargs)


@st.cache_data(max_entries=512, show_spinner=False)
def _query(path: str, stamp: Stamp, method: str, kwargs: tuple[tuple[str, Any], ...]) -> Any:
    """One ``TraceStore`` call; ``stamp`` is only part of the key (a changed file misses the cache)."""
    del stamp
    return _call(path, method, dict(kwargs))


def query_fresh(path: str | Path, method: str, **kwargs: Any) -> Any:
    """Like :func:`query` but never from the data cache: for a decision taken once on a file still
    being written (a flush that keeps the size can land within the same mtime tick as the stamp)."""
    return _call(str(Path(path).resolve()), method, kwargs)


def query(path: str | Path, method: str, **kwargs: Any) -> Any:
    """Call ``TraceStore(path).<method>(**kwargs)`` through the cache (see the module docstring).

    Raises the store's :class:`tracing.errors.TraceError` subclasses (never cached).
    """
    path = str(Path(path).resolve())
    return _query(path, file_stamp(path), method, tuple(sorted(kwargs.items())))


def runs(path: str | Path) -> pd.DataFrame:
    """Every run of a trace (``TraceStore.runs``), newest first."""
    frame = query(path, "runs")
    if "created" in frame.columns and len(frame):
        frame = frame.sort_values("created", ascending=False, kind="stable").reset_index(drop=True)
    return frame


def info(path: str | Path) -> dict[str, Any]:
    """``TraceStore.info``: schema version, size and rows per table."""
    return query(path, "info")


def clear() -> None:
    """Forget every cached query and store (after the user deletes or replaces files)."""
    _query.clear()
    _store.clear()


@st.cache_resource(max_entries=4, show_spinner="Loading the model (once per session)...")
def cached_model(kind: str, source: str, device: str) -> Any:
    """Load a live model once and share it across reruns and sessions (see ``app.live_driver``)."""
    from app.live_driver import load_model

    return load_model(kind, source, device)


PROJECTION_CACHE = Path.home() / ".cache" / "memscope" / "projections"
"""Where fitted projections are kept (coordinates + parameters + seed), outside any trace folder."""


@st.cache_data(max_entries=64, show_spinner="Projecting the stored signatures (UMAP)...")
def _projected(path: str, stamp: Stamp, run_id: str, seed: int) -> tuple[pd.DataFrame, str | None]:
    from app.projection import ProjectionParams, SignatureProjector

    signatures = query(path, "signatures", run_id=run_id)
    has_topk = len(signatures) and signatures["topk_ids"].map(lambda ids: hasattr(ids, "__len__") and len(ids) > 0).all()
    kind = "topk" if has_topk else "embedding"
    projector = SignatureProjector(ProjectionParams(kind=kind, seed=seed), cache_dir=PROJECTION_CACHE)
    points = projector.fit(signatures)
    return points, projector.note


def projected_signatures(path: str | Path, run_id: str, *, seed: int = 0) -> tuple[pd.DataFrame, str | None]:
    """A run's stored signatures with UMAP ``x, y`` (fitted once per file version, then cached).

    Top-k distributions (Hellinger) when the signatures carry them, else embeddings (Euclidean).
    Returns ``(points, note)``; the note says "showing n of N" when the projector sampled.
    """
    path = str(Path(path).resolve())
    return _projected(path, file_stamp(path), run_id, seed)
