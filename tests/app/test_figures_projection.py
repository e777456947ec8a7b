"""Projection scatter: points coloured by category or value, hover escaped, notes, shared axes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from app.figures.notes import figure_notes
from app.figures.projection import hover_text, projection_figure, projection_points, shared_axis_range

PROJECTED = pd.DataFrame(
    {
        "x": [0.0, 1.0, 2.0, 3.0],
        "y": [1.0, 0.0, 1.0, 0.0],
        "run_id": ["a", "a", "b", "b"],
        "step": [3, 9, 4, 12],
        "trigger": ["entropy_spike", "kl", "kl", "<img src=x>"],
        "entropy": [0.5, 1.5, 2.5, 3.5],
        "topk_ids": [np.array([7, 8]), np.array([9, 7]), np.array([8, 9]), np.array([7, 9])],
        "topk_probs": [np.array([0.7, 0.2]), np.array([0.1, 0.8]), np.array([0.5, 0.4]), np.array([0.6, 0.3])],
        "context_text": ["the <b>cat</b>", "x" * 200, None, "sat"],
    }
)


def test_hover_lists_top_tokens_by_probability_and_escapes_context():
    text = hover_text(PROJECTED.iloc[1], decode={7: " cat", 9: "<dog>"})
    lines = text.split("<br>")
    assert lines[0] == "step 9 · kl"
    assert lines[1] == "&#x27; cat&#x27;:0.80 &#x27;&lt;dog&gt;&#x27;:0.10"  # id 7 (0.8) before id 9 (0.1)
    assert lines[2].startswith("…") and len(lines[2]) == 81
    assert "&lt;b&gt;cat&lt;/b&gt;" in hover_text(PROJECTED.iloc[0])
    assert "#7" in hover_text(PROJECTED.iloc[0])  # no decoder: ids
    assert "&lt;img src=x&gt;" in hover_text(PROJECTED.iloc[3])


def test_categorical_colouring_gives_one_trace_per_run():
    fig = projection_figure(projection_points(PROJECTED, color_by="run_id"), color_by="run_id")
    assert [t.name for t in fig.data] == ["a", "b"]
    assert list(fig.data[1].x) == [2.0, 3.0]


def test_numeric_colouring_uses_a_colour_scale():
    fig = projection_figure(projection_points(PROJECTED, color_by="entropy"), color_by="entropy", note="showing 4 of 9 signatures")
    (trace,) = fig.data
    assert list(trace.marker.color) == [0.5, 1.5, 2.5, 3.5]
    assert trace.marker.colorbar.title.text == "entropy"
    assert figure_notes(fig) == ["showing 4 of 9 signatures"]


def test_new_points_are_highlighted_and_axes_can_be_shared():
    points = projection_points(PROJECTED, color_by="trigger")
    other = points.assign(x=points["x"] + 10)
    ranges = shared_axis_range(points, other, pad=0.0)
    assert ranges == ((0.0, 13.0), (0.0, 1.0))
    new = pd.DataFrame({"x": [5.0], "y": [5.0], "hover": ["live"]})
    fig = projection_figure(points, color_by="trigger", highlight=new, axis_range=ranges)
    assert fig.data[-1].name == "new" and list(fig.data[-1].x) == [5.0]
    assert list(fig.layout.xaxis.range) == [0.0, 13.0]


def test_empty_selection_says_so():
    empty = projection_points(PROJECTED.iloc[0:0], color_by="run_id")
    assert figure_notes(projection_figure(empty, color_by="run_id")) == ["no stored signatures in this selection"]
