"""Scatter of projected signatures (UMAP), coloured by run, step, trigger or entropy.

:func:`projection_points` turns projected signature rows (``x, y`` plus the ``moments``
columns) into the figure's input ``points[x, y, color, hover]``; hover text shows the top-k
tokens with their probabilities and the stored context, HTML-escaped.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from app.figures.notes import add_note

COLOR_BY = ("run_id", "step", "trigger", "entropy")
"""Colourings offered by the views; any other column of the points frame also works."""

_CATEGORICAL = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4d7c0f", "#be185d", "#64748b", "#ca8a04")

Decoder = Mapping[int, str] | Callable[[int], str] | None


def _token(decode: Decoder, token_id: int) -> str:
    if decode is None:
        return f"#{token_id}"
    if isinstance(decode, Mapping):
        return decode.get(token_id, f"#{token_id}")
    return decode(token_id)


def hover_text(row: Mapping, *, decode: Decoder = None, top: int = 5, context_chars: int = 80) -> str:
    """``step, trigger``, the ``top`` most likely tokens with probabilities, and the context tail."""
    trigger = row.get("trigger")
    parts = [f"step {int(row['step'])}" + (f" · {html.escape(str(trigger))}" if isinstance(trigger, str) else "")]
    ids, probs = row.get("topk_ids"), row.get("topk_probs")
    if hasattr(ids, "__len__") and len(ids):
        order = np.argsort(-np.asarray(probs, dtype=np.float64))[:top]
        parts.append(" ".join(f"{html.escape(repr(_token(decode, int(ids[i]))))}:{float(probs[i]):.2f}" for i in order))
    context = row.get("context_text")
    if isinstance(context, str) and context:
        tail = context[-context_chars:]
        parts.append(("…" if len(context) > context_chars else "") + html.escape(tail))
    return "<br>".join(parts)


def projection_points(projected: pd.DataFrame, *, color_by: str = "run_id", decode: Decoder = None) -> pd.DataFrame:
    """``x, y, color, hover`` rows from projected signature rows (``SignatureProjector.fit``).

    ``decode`` maps a token id to its text (a dict such as ``{token_id: token_text}`` built from
    the steps table, or a tokenizer's ``decode``); without it ids show as ``#id``.
    """
    if color_by not in projected:
        raise ValueError(f"cannot colour by {color_by!r}: the signatures have no such column")
    return pd.DataFrame(
        {
            "x": projected["x"].to_numpy(),
            "y": projected["y"].to_numpy(),
            "color": projected[color_by].to_numpy(),
            "hover": [hover_text(row, decode=decode) for row in projected.to_dict("records")],
        },
        index=projected.index,
    )


def projection_figure(
    points: pd.DataFrame,
    *,
    color_by: str,
    note: str | None = None,
    title: str = "Stored signatures (UMAP)",
    highlight: pd.DataFrame | None = None,
    axis_range: tuple[tuple[float, float], tuple[float, float]] | None = None,
) -> go.Figure:
    """Scatter of ``points[x, y, color, hover]``.

    Args:
        color_by: name of the colouring (legend / colour bar title). Numeric colours use a
            continuous scale, others one trace per category.
        note: visible note, e.g. ``"showing 20,000 of 85,113 signatures"``.
        highlight: extra ``x, y, hover`` points drawn large on top (new live signatures placed
            with ``transform``, or the cursor's moment).
        axis_range: ``((x0, x1), (y0, y1))`` so two panes of Compare share their coordinates.
    """
    fig = go.Figure()
    numeric = pd.api.types.is_numeric_dtype(points["color"]) and color_by != "run_id"
    if numeric:
        fig.add_trace(
            go.Scattergl(
                x=points["x"], y=points["y"], mode="markers", name=color_by, text=points["hover"],
                marker=dict(color=points["color"], colorscale="Viridis", size=6, opacity=0.8, colorbar=dict(title=dict(text=color_by))),
                hovertemplate="%{text}<extra></extra>",
            )
        )
    else:
        for i, (category, rows) in enumerate(points.groupby(points["color"].astype(str), sort=True)):
            fig.add_trace(
                go.Scattergl(
                    x=rows["x"], y=rows["y"], mode="markers", name=str(category), text=rows["hover"],
                    marker=dict(color=_CATEGORICAL[i % len(_CATEGORICAL)], size=6, opacity=0.8),
                    hovertemplate="%{text}<extra>" + html.escape(str(category)) + "</extra>",
                )
            )
    if highlight is not None and len(highlight):
        fig.add_trace(
            go.Scatter(
                x=highlight["x"], y=highlight["y"], mode="markers", name="new",
                text=highlight["hover"] if "hover" in highlight else None,
                marker=dict(symbol="star", size=15, color="#111827", line=dict(color="white", width=1)),
                hovertemplate="%{text}<extra>new</extra>",
            )
        )
    fig.update_layout(title=dict(text=title), legend_title_text=color_by, xaxis_title="UMAP 1", yaxis_title="UMAP 2", margin=dict(t=70))
    if axis_range is not None:
        fig.update_xaxes(range=list(axis_range[0]))
        fig.update_yaxes(range=list(axis_range[1]))
    if points.empty:
        note = note or "no stored signatures in this selection"
    return add_note(fig, note)


def shared_axis_range(*point_sets: pd.DataFrame, pad: float = 0.05) -> tuple[tuple[float, float], tuple[float, float]]:
    """One ``((x0, x1), (y0, y1))`` covering every point set, padded by ``pad`` of the span."""
    xs = np.concatenate([p["x"].to_numpy(np.float64) for p in point_sets])
    ys = np.concatenate([p["y"].to_numpy(np.float64) for p in point_sets])
    def padded(v: np.ndarray) -> tuple[float, float]:
        lo, hi = float(np.nanmin(v)), float(np.nanmax(v))
        span = (hi - lo) or 1.0
        return lo - pad * span, hi + pad * span
    return padded(xs), padded(ys)
