"""Shared helpers of the figure builders: the "showing n of N" note and its placement."""

from __future__ import annotations

import plotly.graph_objects as go


def sampling_note(shown: int, total: int, unit: str) -> str | None:
    """``"showing n of N <unit>"`` when a view shows fewer items than exist, else ``None``."""
    if total <= shown:
        return None
    return f"showing {shown:,} of {total:,} {unit}"


def add_note(fig: go.Figure, note: str | None) -> go.Figure:
    """Write ``note`` visibly under the plot's title (a paper-anchored annotation); returns ``fig``."""
    if note:
        fig.add_annotation(
            text=note,
            xref="paper",
            yref="paper",
            x=0.0,
            y=1.0,
            xanchor="left",
            yanchor="bottom",
            showarrow=False,
            font=dict(size=11, color="#b45309"),
            name="note",
        )
    return fig


def figure_notes(fig: go.Figure) -> list[str]:
    """The notes written by :func:`add_note` (for tests and for pages that echo them as text)."""
    return [a.text for a in fig.layout.annotations if a.name == "note"]
