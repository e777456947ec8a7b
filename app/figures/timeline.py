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
    """``row, step, n`` and one count column per op: events per glyph row and (binned) step.

    Counts are summed over memories; the op columns (``write``, ``evict``, ``decay``, ...) say
    which ops make up a glyph of a row that gathers several.
    """
    op_to_row = {op: row for row, ops in rows.items() for op in ops}
    ops = list(op_to_row)
    if event_counts.empty:
        return pd.DataFrame(columns=["row", "step", "n", *ops])
    frame = event_counts[event_counts["op"].isin(ops)]
    frame = pd.DataFrame({"row": frame["op"].map(op_to_row), "step": (frame["step"] // bin_width) * bin_width,
                          "op": frame["op"], "n": frame["n"]})
    wide = frame.pivot_table(index=["row", "step"], columns="op", values="n", aggfunc="sum", fill_value=0)
    wide = wide.reindex(columns=ops, fill_value=0)
    wide.insert(0, "n", wide.sum(axis=1))
    wide.columns.name = None
    return wide.reset_index().astype({op: np.int64 for op in ["n", *ops]})


def timeline_figure(
    steps: pd.DataFrame,
    event_counts: pd.DataFrame,
    *,
    metric: str = "entropy",
    threshold: float | None = None,
    cursor: int | None = None,
    whatif_steps: pd.Series | np.ndarray | list[int] | None = None,
    max_points: int = 5_000,
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
    n_steps = len(steps)
    bin_width = max(1, -(-n_steps // max_points)) if max_points > 0 else 1
    shown = _binned_steps(steps, bin_width) if bin_width > 1 else steps
    tokens = shown["token_text"] if "token_text" in shown else pd.Series([""] * len(shown))
    hover_tokens = np.array([html.escape(t) if isinstance(t, str) else "" for t in tokens], dtype=object)
    x = shown["step"].to_numpy()
    # Both panels share the one x axis; the metric panel is y (top), the glyph rows y2 (bottom).
    traces: list[dict] = []
    for name in METRICS:
        if name not in shown or shown[name].isna().all():
            continue
        traces.append(dict(
            type="scatter", x=x, y=shown[name].to_numpy(np.float64), mode="lines", name=name, yaxis="y",
            line=dict(color=_LINE_COLORS[name], width=2.4 if name == metric else 1.1),
            opacity=1.0 if name == metric else 0.7, text=hover_tokens if name == metric else None,
            hovertemplate="step %{x}<br>" + ("%{text}<br>" if name == metric else "") + name + " %{y:.3f}<extra></extra>",
        ))
    glyphs = glyph_counts(event_counts, bin_width=bin_width)
    row_names = list(GLYPH_ROWS)
    for row, ops in GLYPH_ROWS.items():
        sel = glyphs[glyphs["row"] == row]
        symbol, color = _GLYPHS[row]
        counts = sel[["n", *ops]].to_numpy(np.float64)
        detail = ", ".join(f"%{{customdata[{i + 1}]}} {op}" for i, op in enumerate(ops))
        traces.append(dict(
            type="scatter", x=sel["step"].to_numpy(), y=np.full(len(sel), row), yaxis="y2", mode="markers", name=row,
            showlegend=False, marker=dict(symbol=symbol, color=color, size=6 + 2.5 * np.log2(counts[:, 0] + 1)),
            customdata=counts, hovertemplate="step %{x}<br>" + detail + "<extra>" + row + "</extra>",
        ))
    if whatif_steps is not None:
        would = np.unique((np.asarray(whatif_steps, dtype=np.int64) // bin_width) * bin_width)
        symbol, color = _GLYPHS["would store"]
        row_names.append("would store")
        traces.append(dict(type="scatter", x=would, y=np.full(len(would), "would store"), yaxis="y2", mode="markers",
                           name="would store", showlegend=False, marker=dict(symbol=symbol, color=color, size=8),
                           hovertemplate="step %{x}<extra>would store</extra>"))
    shapes, annotations = [], []
    if threshold is not None:
        shapes.append(dict(type="line", name="threshold", xref="paper", x0=0, x1=1, yref="y", y0=threshold, y1=threshold,
                           line=dict(color=_LINE_COLORS[metric], dash="dash", width=1)))
        annotations.append(dict(text=f"threshold {metric} = {threshold:g}", xref="paper", x=0, xanchor="left", yref="y",
                                y=threshold, yanchor="bottom", showarrow=False, font=dict(size=10)))
    if cursor is not None:
        shapes.append(dict(type="line", name="cursor", xref="x", x0=cursor, x1=cursor, yref="paper", y0=0, y1=1,
                           line=dict(color="#111827", width=1.5)))
        at = shown[shown["step"] == (cursor // bin_width) * bin_width]
        if len(at) and metric in at and at[metric].notna().any():
            traces.append(dict(type="scatter", x=at["step"].to_numpy(), y=at[metric].to_numpy(np.float64), yaxis="y",
                               mode="markers", name="cursor", showlegend=False, hovertemplate="cursor %{x}<extra></extra>",
                               marker=dict(color="#111827", size=11, symbol="circle-open", line=dict(width=2))))
    layout = dict(
        title=dict(text=title), margin=dict(t=80), shapes=shapes, annotations=annotations,
        legend=dict(orientation="h", y=1.02, x=1, xanchor="right", yanchor="bottom"),
        xaxis=dict(title=dict(text="token (step)"), anchor="y2"),
        yaxis=dict(title=dict(text="nats"), domain=[0.32, 1.0]),
        yaxis2=dict(domain=[0.0, 0.27], type="category", categoryorder="array", categoryarray=row_names[::-1]),
    )
    fig = go.Figure(data=traces, layout=layout)
    note = f"showing {len(shown):,} of {n_steps:,} steps (max over bins of {bin_width})" if bin_width > 1 else None
    return add_note(fig, note)
