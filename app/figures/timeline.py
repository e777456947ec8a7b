"""Moment timeline: one token axis with entropy, surprisal and KL lines and event glyph rows.

Top panel: the per-token distribution summaries of ``TraceStore.timeline`` (``step``,
``token_text``, ``surprisal``, ``entropy``, ``kl``), the salience threshold on the chosen metric,
and the cursor. Bottom panel: one row of glyphs per kind of memory event from
``TraceStore.event_counts`` (``step, memory, op, n``); a glyph's size grows with the count.
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from app.figures.notes import add_note

METRICS = ("entropy", "surprisal", "kl")

GLYPH_ROWS: dict[str, tuple[str, ...]] = {
    "write": ("write",),
    "read": ("read",),
    "resonance": ("resonance",),
    "evict": ("evict", "decay", "merge", "prune"),
}
"""Glyph row -> the ops it gathers. The ``evict`` row shows every death (DESIGN.md lifecycles)."""

_LINE_COLORS = {"entropy": "#2563eb", "surprisal": "#dc2626", "kl": "#16a34a"}
_GLYPHS = {"write": ("triangle-up", "#2563eb"), "read": ("circle", "#0891b2"), "resonance": ("star", "#ea580c"),
           "evict": ("x", "#dc2626"), "would store": ("diamond-open", "#9333ea")}


def _binned_steps(steps: pd.DataFrame, bin_width: int) -> pd.DataFrame:
    """Steps grouped by ``bin_width``: the max of each metric (spikes stay visible), first token."""
    key = (steps["step"] // bin_width) * bin_width
    agg = {m: "max" for m in METRICS if m in steps}
    agg["token_text"] = "first"
    out = steps.groupby(key).agg(agg)
    out.index.name = "step"
    return out.reset_index()


def glyph_counts(event_counts: pd.DataFrame, *, bin_width: int = 1, rows: dict[str, tuple[str, ...]] = GLYPH_ROWS) -> pd.DataFrame:
    """``row, step, n, detail``: events per glyph row and (binned) step, summed over memories.

    ``detail`` names the ops behind a glyph, e.g. ``"2 evict, 1 prune"``.
    """
    if event_counts.empty:
        return pd.DataFrame(columns=["row", "step", "n", "detail"])
    op_to_row = {op: row for row, ops in rows.items() for op in ops}
    frame = event_counts.assign(row=event_counts["op"].map(op_to_row), step=(event_counts["step"] // bin_width) * bin_width)
    frame = frame.dropna(subset=["row"])
    per_op = frame.groupby(["row", "step", "op"], sort=True)["n"].sum().reset_index()
    per_op["part"] = per_op["n"].astype(int).astype(str) + " " + per_op["op"]
    out = per_op.groupby(["row", "step"], sort=True).agg(n=("n", "sum"), detail=("part", ", ".join)).reset_index()
    return out


def timeline_figure(
    steps: pd.DataFrame,
    event_counts: pd.DataFrame,
    *,
    metric: str = "entropy",
    threshold: float | None = None,
    cursor: int | None = None,
    whatif_steps: pd.Series | np.ndarray | list[int] | None = None,
    max_points: int = 20_000,
    title: str = "Moment timeline",
) -> go.Figure:
    """Entropy, surprisal and KL over the token axis, glyph rows of events below, shared x.

    Args:
        steps: rows ``step, token_text, surprisal, entropy, kl`` of one batch element.
        event_counts: rows ``step, memory, op, n``.
        metric: the line drawn bold, to which ``threshold`` applies (one of :data:`METRICS`).
        threshold: the salience threshold, drawn as a horizontal line.
        cursor: the cursor's step: a vertical line over both panels and a marker on ``metric``.
        whatif_steps: steps a different threshold would have stored (``TraceStore.whatif``),
            drawn as an extra ``would store`` glyph row.
        max_points: with more steps than this, steps are binned (max per bin) and a note says so.
    """
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}: choose one of {', '.join(METRICS)}")
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.72, 0.28], vertical_spacing=0.04)
    n_steps = len(steps)
    bin_width = max(1, -(-n_steps // max_points)) if max_points > 0 else 1
    shown = _binned_steps(steps, bin_width) if bin_width > 1 else steps
    hover_tokens = [html.escape(str(t)) if t is not None else "" for t in shown.get("token_text", pd.Series([""] * len(shown)))]
    for name in METRICS:
        if name not in shown or shown[name].isna().all():
            continue
        fig.add_trace(
            go.Scatter(
                x=shown["step"], y=shown[name], mode="lines", name=name,
                line=dict(color=_LINE_COLORS[name], width=2.4 if name == metric else 1.1),
                opacity=1.0 if name == metric else 0.7, text=hover_tokens,
                hovertemplate="step %{x}<br>%{text}<br>" + name + " %{y:.3f}<extra></extra>",
            ),
            row=1, col=1,
        )
    if threshold is not None:
        fig.add_hline(y=threshold, line=dict(color=_LINE_COLORS[metric], dash="dash", width=1), row=1, col=1,
                      annotation_text=f"threshold {metric} = {threshold:g}", annotation_position="top left", name="threshold")
    glyphs = glyph_counts(event_counts, bin_width=bin_width)
    row_names = list(GLYPH_ROWS)
    for row in row_names:
        sel = glyphs[glyphs["row"] == row]
        symbol, color = _GLYPHS[row]
        fig.add_trace(
            go.Scatter(
                x=sel["step"], y=[row] * len(sel), mode="markers", name=row, showlegend=False,
                marker=dict(symbol=symbol, color=color, size=(6 + 2.5 * np.log2(sel["n"].to_numpy(np.float64) + 1)) if len(sel) else 6),
                customdata=np.stack([sel["n"].to_numpy(), sel["detail"].to_numpy()], axis=1) if len(sel) else None,
                hovertemplate="step %{x}<br>%{customdata[1]}<extra>" + row + "</extra>",
            ),
            row=2, col=1,
        )
    if whatif_steps is not None:
        would = np.unique((np.asarray(whatif_steps, dtype=np.int64) // bin_width) * bin_width)
        symbol, color = _GLYPHS["would store"]
        row_names.append("would store")
        fig.add_trace(
            go.Scatter(x=would, y=["would store"] * len(would), mode="markers", name="would store", showlegend=False,
                       marker=dict(symbol=symbol, color=color, size=8), hovertemplate="step %{x}<extra>would store</extra>"),
            row=2, col=1,
        )
    if cursor is not None:
        fig.add_vline(x=cursor, line=dict(color="#111827", width=1.5), name="cursor")
        at = shown[shown["step"] == (cursor // bin_width) * bin_width]
        if len(at) and metric in at and at[metric].notna().any():
            fig.add_trace(
                go.Scatter(x=at["step"], y=at[metric], mode="markers", name="cursor", showlegend=False,
                           marker=dict(color="#111827", size=11, symbol="circle-open", line=dict(width=2)),
                           hovertemplate="cursor %{x}<extra></extra>"),
                row=1, col=1,
            )
    fig.update_yaxes(title_text="nats", row=1, col=1)
    fig.update_yaxes(type="category", categoryorder="array", categoryarray=row_names[::-1], row=2, col=1)
    fig.update_xaxes(title_text="token (step)", row=2, col=1)
    fig.update_layout(title=dict(text=title), legend=dict(orientation="h", y=1.02, x=1, xanchor="right", yanchor="bottom"), margin=dict(t=80))
    note = f"showing {len(shown):,} of {n_steps:,} steps (max over bins of {bin_width})" if bin_width > 1 else None
    return add_note(fig, note)
