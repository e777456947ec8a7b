"""Metric curves: accuracy vs distance, forgetting curves, training loss; one line per series.

Input is the store's ``metrics`` frame (``run_id, step, name, value, x, series``). A curve's x is
the row's ``x`` (e.g. the distance of a query from its fact) when set, otherwise its ``step``.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from app.figures.notes import add_note

_PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4d7c0f", "#be185d")


def curve_frame(metrics: pd.DataFrame, name: str, *, by: str = "series") -> pd.DataFrame:
    """``group, x, value`` rows of metric ``name``, sorted; ``group`` is the ``by`` column's value.

    Rows with no ``x`` use their ``step``; repeated ``(group, x)`` rows are averaged.
    """
    rows = metrics[metrics["name"] == name]
    if rows.empty:
        return pd.DataFrame(columns=["group", "x", "value"])
    x = rows["x"].where(rows["x"].notna(), rows["step"]).astype(float)
    group = rows[by].fillna(name).astype(str) if by in rows else pd.Series(name, index=rows.index)
    frame = pd.DataFrame({"group": group, "x": x, "value": rows["value"].astype(float)}).dropna(subset=["x"])
    return frame.groupby(["group", "x"], sort=True)["value"].mean().reset_index()


def metric_curves_figure(
    metrics: pd.DataFrame,
    name: str,
    *,
    by: str = "series",
    x_label: str = "x",
    title: str | None = None,
) -> go.Figure:
    """One line (with markers) per ``by`` group of metric ``name`` against x.

    Args:
        metrics: the store's metrics rows (any number of runs).
        name: the metric, e.g. ``"accuracy"``.
        by: the column naming a curve (``series``, ``run_id`` or any other column).
        x_label: x axis title (e.g. ``"distance"``).
    """
    frame = curve_frame(metrics, name, by=by)
    fig = go.Figure()
    for i, (group, rows) in enumerate(frame.groupby("group", sort=True)):
        fig.add_trace(
            go.Scatter(
                x=rows["x"], y=rows["value"], mode="lines+markers", name=str(group),
                line=dict(color=_PALETTE[i % len(_PALETTE)]),
                hovertemplate=f"{x_label} %{{x}}<br>{name} %{{y:.4g}}<extra>{group}</extra>",
            )
        )
    fig.update_layout(title=dict(text=title or f"{name} vs {x_label}"), xaxis_title=x_label, yaxis_title=name, margin=dict(t=70))
    return add_note(fig, None if len(frame) else f"no {name!r} metric in this selection")
