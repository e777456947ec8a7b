"""Metric curves: one line per series, x from ``x`` or ``step``, repeated points averaged."""

from __future__ import annotations

import pandas as pd
import pytest

from app.figures.curves import curve_frame, metric_curves_figure
from app.figures.notes import figure_notes

METRICS = pd.DataFrame(
    {
        "run_id": "r",
        "step": [None, None, None, None, 10, 20, None],
        "name": ["accuracy", "accuracy", "accuracy", "accuracy", "loss", "loss", "accuracy"],
        "value": [0.9, 0.7, 0.5, 0.3, 2.0, 1.5, 0.8],
        "x": [8.0, 16.0, 8.0, 16.0, None, None, 8.0],
        "series": ["memnet", "memnet", "lstm", "lstm", None, None, "memnet"],
    }
)


def test_curve_frame_groups_averages_and_falls_back_to_step():
    acc = curve_frame(METRICS, "accuracy")
    memnet = acc[acc["group"] == "memnet"]
    assert memnet["x"].tolist() == [8.0, 16.0]
    assert memnet["value"].tolist() == pytest.approx([0.85, 0.7])  # two rows at x=8 averaged
    loss = curve_frame(METRICS, "loss")
    assert loss["x"].tolist() == [10.0, 20.0] and set(loss["group"]) == {"loss"}


def test_figure_has_one_line_per_series():
    fig = metric_curves_figure(METRICS, "accuracy", x_label="distance")
    assert sorted(t.name for t in fig.data) == ["lstm", "memnet"]
    (lstm,) = [t for t in fig.data if t.name == "lstm"]
    assert list(lstm.x) == [8.0, 16.0] and list(lstm.y) == [0.5, 0.3]
    assert fig.layout.xaxis.title.text == "distance"


def test_missing_metric_says_so():
    fig = metric_curves_figure(METRICS, "forgetting")
    assert len(fig.data) == 0
    assert figure_notes(fig) == ["no 'forgetting' metric in this selection"]
