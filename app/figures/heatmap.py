"""Slot heatmap: memory cells x time steps, coloured by reads, writes, usage, age or norm.

The store aggregates in SQL to at most ~250k cells (``TraceStore.heatmap``); this builder only
lays the aggregated rows out on a dense grid. The frame's ``cell`` and ``step`` columns are the
first cell / first step of each bin (multiples of ``cell_bin`` / ``step_bin``), ``value`` the
bin's count, weight sum or mean state.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from app.figures.notes import add_note

HEATMAP_COLORSCALE = "Viridis"


def heatmap_grid(frame: pd.DataFrame, *, cell_bin: int, step_bin: int, fill: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dense grid of an aggregated heatmap frame.

    Args:
        frame: rows ``cell``, ``step`` (bin starts: the range's first cell/step plus multiples of
            the bin width), ``value``; at most one row per bin pair.
        cell_bin, step_bin: bin widths (>= 1).
        fill: value of bins with no row (0 for counts, NaN for states).

    Returns:
        ``(cells (C,), steps (S,), z (C, S))``: bin starts along each axis, from the smallest to
        the largest present, with every bin in between, and the values.
    """
    if cell_bin < 1 or step_bin < 1:
        raise ValueError(f"bins must be >= 1, got cell_bin={cell_bin}, step_bin={step_bin}")
    if frame.empty:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 0))
    cell = frame["cell"].to_numpy(np.int64)
    step = frame["step"].to_numpy(np.int64)
    c0, s0 = int(cell.min()), int(step.min())  # bins start at the range's first cell / step
    cell_idx, step_idx = (cell - c0) // cell_bin, (step - s0) // step_bin
    n_c, n_s = int(cell_idx.max()) + 1, int(step_idx.max()) + 1
    z = np.full((n_c, n_s), fill, dtype=np.float64)
    z[cell_idx, step_idx] = frame["value"].to_numpy(np.float64)
    cells = c0 + np.arange(n_c) * cell_bin
    steps = s0 + np.arange(n_s) * step_bin
    return cells, steps, z


def heatmap_figure(
    frame: pd.DataFrame,
    *,
    cell_bin: int,
    step_bin: int,
    title: str,
    value_label: str,
    note: str | None = None,
    fill: float = 0.0,
    colorscale: str = HEATMAP_COLORSCALE,
) -> go.Figure:
    """Cells (y) x steps (x) heatmap of one aggregated value.

    Args:
        frame: ``cell``, ``step``, ``value`` rows as returned in ``HeatmapResult.frame``.
        cell_bin, step_bin: bin widths the store used (1 = one row per cell / step).
        title: figure title; value_label: colour bar title (e.g. ``"writes"``).
        note: a visible note such as ``"showing 250,000 of 1,200,000 cell-steps"`` (see
            :func:`heatmap_note`).
        fill: value of bins with no row: 0 for event counts, ``float("nan")`` for states.
        colorscale: any plotly colour scale name.
    """
    cells, steps, z = heatmap_grid(frame, cell_bin=cell_bin, step_bin=step_bin, fill=fill)
    cell_title = "cell" if cell_bin == 1 else f"cell (bins of {cell_bin})"
    step_title = "step" if step_bin == 1 else f"step (bins of {step_bin})"
    fig = go.Figure(
        go.Heatmap(
            z=z.astype(np.float32),  # half the bytes shipped to the browser; counts stay exact
            x=steps,
            y=cells,
            colorscale=colorscale,
            colorbar=dict(title=dict(text=value_label)),
            hovertemplate=f"step %{{x}}<br>cell %{{y}}<br>{value_label} %{{z}}<extra></extra>",
            name=value_label,
        )
    )
    fig.update_layout(title=dict(text=title), xaxis_title=step_title, yaxis_title=cell_title, margin=dict(t=70))
    return add_note(fig, note)


def heatmap_note(result) -> str | None:
    """The "showing n of N" note of a binned or sampled ``HeatmapResult`` (``None`` if it shows all).

    ``result`` is anything with ``n_cells``, ``n_steps`` (full extents), ``cell_bin``,
    ``step_bin`` and ``sampled`` (``tracing.store.HeatmapResult``).
    """
    if result.cell_bin == 1 and result.step_bin == 1 and not result.sampled:
        return None
    shown = -(-result.n_cells // result.cell_bin) * -(-result.n_steps // result.step_bin)
    text = f"showing {shown:,} of {result.n_cells * result.n_steps:,} cell-steps"
    if result.cell_bin > 1 or result.step_bin > 1:
        text += f" (bins of {result.cell_bin} cells x {result.step_bin} steps)"
    elif result.sampled:
        text += " (cell states recorded with sampling)"
    return text
