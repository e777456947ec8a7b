"""Downloads of a figure (PNG, SVG through kaleido + Debian's chromium) and of its data (CSV).

kaleido 1.x drives a headless chromium: ~2 s per image when each call starts its own browser,
~0.2 s once :func:`start_export_server` has started the shared one (it is stopped at exit).
"""

from __future__ import annotations

import atexit
import io
import json
import threading
import warnings

import numpy as np
import pandas as pd
import plotly.graph_objects as go

DEFAULT_WIDTH = 1100
DEFAULT_HEIGHT = 600

_SERVER_LOCK = threading.Lock()
_SERVER_STARTED = False


class ExportError(RuntimeError):
    """A static image cannot be made here (no chromium, kaleido failed)."""


def start_export_server() -> None:
    """Start kaleido's shared chromium once per process (idempotent); stopped at exit."""
    global _SERVER_STARTED
    import kaleido

    with _SERVER_LOCK:
        if _SERVER_STARTED:
            return
        try:
            kaleido.start_sync_server(silence_warnings=True)
        except Exception as exc:  # chromium missing or unable to start
            raise ExportError(f"cannot start chromium for image export ({exc}); install Debian's chromium") from exc
        _SERVER_STARTED = True
        atexit.register(kaleido.stop_sync_server, silence_warnings=True)


def _image(fig: go.Figure, fmt: str, width: int | None, height: int | None, scale: float) -> bytes:
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="The kopts argument is ignored")
            return fig.to_image(format=fmt, width=width or fig.layout.width or DEFAULT_WIDTH,
                                height=height or fig.layout.height or DEFAULT_HEIGHT, scale=scale)
    except (RuntimeError, OSError) as exc:
        raise ExportError(f"{fmt.upper()} export failed: {' '.join(str(exc).split())[:200]}") from exc


def figure_png(fig: go.Figure, *, width: int | None = None, height: int | None = None, scale: float = 2.0) -> bytes:
    """The figure as PNG bytes (``width`` x ``height`` layout pixels, times ``scale``)."""
    return _image(fig, "png", width, height, scale)


def figure_svg(fig: go.Figure, *, width: int | None = None, height: int | None = None) -> bytes:
    """The figure as SVG bytes (UTF-8 XML)."""
    return _image(fig, "svg", width, height, 1.0)


def _csv_cell(value: object) -> object:
    if isinstance(value, np.ndarray):
        return json.dumps(value.tolist())
    if isinstance(value, (list, tuple)):
        return json.dumps(list(value))
    return value


def frame_csv(frame: pd.DataFrame) -> bytes:
    """The frame as UTF-8 CSV bytes (no index); list columns (top-k ids/probs) as JSON arrays."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object and out[column].map(lambda v: isinstance(v, (np.ndarray, list, tuple))).any():
            out[column] = out[column].map(_csv_cell)
    buffer = io.StringIO()
    out.to_csv(buffer, index=False)
    return buffer.getvalue().encode("utf-8")


def figure_frame(fig: go.Figure) -> pd.DataFrame:
    """The data behind a figure, one row per plotted point: ``trace, x, y`` (+ ``z`` of heatmaps).

    This is what a "CSV of the figure" holds when the page has no better source frame; heatmaps
    come out long (one row per cell-step bin).
    """
    parts = []
    for trace in fig.data:
        name = trace.name or trace.type
        if trace.type == "heatmap":
            z = np.asarray(trace.z, dtype=np.float64)
            if z.size == 0:
                continue
            ys = np.asarray(trace.y) if trace.y is not None else np.arange(z.shape[0])
            xs = np.asarray(trace.x) if trace.x is not None else np.arange(z.shape[1])
            parts.append(pd.DataFrame({"trace": name, "x": np.tile(xs, len(ys)), "y": np.repeat(ys, len(xs)), "z": z.ravel()}))
        elif getattr(trace, "x", None) is not None and getattr(trace, "y", None) is not None:
            parts.append(pd.DataFrame({"trace": name, "x": np.asarray(trace.x), "y": np.asarray(trace.y)}))
    if not parts:
        return pd.DataFrame(columns=["trace", "x", "y"])
    return pd.concat(parts, ignore_index=True)
