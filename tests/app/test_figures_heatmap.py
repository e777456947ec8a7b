"""Slot heatmap builder: cells land in the right place of the grid, the sampling note shows."""

from __future__ import annotations

import numpy as np
import pandas as pd
from types import SimpleNamespace

from app.figures.heatmap import heatmap_figure, heatmap_grid, heatmap_note
from app.figures.notes import figure_notes


def test_grid_places_each_bin_and_fills_the_gaps():
    frame = pd.DataFrame({"cell": [0, 0, 2], "step": [1, 3, 2], "value": [5.0, 1.0, 7.0]})
    cells, steps, z = heatmap_grid(frame, cell_bin=1, step_bin=1)
    assert cells.tolist() == [0, 1, 2]
    assert steps.tolist() == [1, 2, 3]
    assert z.tolist() == [[5.0, 0.0, 1.0], [0.0, 0.0, 0.0], [0.0, 7.0, 0.0]]


def test_grid_bins_start_at_the_range_start_not_at_zero():
    # the store's bins: cell_lo=3 + k*4, step_lo=10 + k*5
    frame = pd.DataFrame({"cell": [3, 7, 11], "step": [10, 20, 15], "value": [1.0, 2.0, 3.0]})
    cells, steps, z = heatmap_grid(frame, cell_bin=4, step_bin=5, fill=np.nan)
    assert cells.tolist() == [3, 7, 11]
    assert steps.tolist() == [10, 15, 20]
    assert z[0, 0] == 1.0 and z[1, 2] == 2.0 and z[2, 1] == 3.0
    assert np.isnan(z[0, 1])


def test_figure_carries_the_grid_titles_and_note():
    frame = pd.DataFrame({"cell": [0, 1, 1], "step": [0, 0, 1], "value": [2.0, 3.0, 4.0]})
    fig = heatmap_figure(frame, cell_bin=1, step_bin=1, title="writes of slot L0 H1", value_label="writes", note="showing 4 of 8 cell-steps")
    (trace,) = fig.data
    assert trace.type == "heatmap"
    assert np.asarray(trace.z).tolist() == [[2.0, 0.0], [3.0, 4.0]]
    assert list(trace.x) == [0, 1] and list(trace.y) == [0, 1]
    assert fig.layout.title.text == "writes of slot L0 H1"
    assert trace.colorbar.title.text == "writes"
    assert figure_notes(fig) == ["showing 4 of 8 cell-steps"]


def test_axis_titles_name_the_bins():
    frame = pd.DataFrame({"cell": [0], "step": [0], "value": [1.0]})
    fig = heatmap_figure(frame, cell_bin=8, step_bin=100, title="t", value_label="reads")
    assert fig.layout.xaxis.title.text == "step (bins of 100)"
    assert fig.layout.yaxis.title.text == "cell (bins of 8)"
    assert figure_notes(fig) == []


def test_empty_frame_gives_an_empty_grid():
    fig = heatmap_figure(pd.DataFrame({"cell": [], "step": [], "value": []}), cell_bin=1, step_bin=1, title="t", value_label="v")
    assert np.asarray(fig.data[0].z).size == 0


def test_note_of_a_binned_result_counts_shown_and_total():
    result = SimpleNamespace(n_cells=1000, n_steps=10_000, cell_bin=2, step_bin=40, sampled=True)
    assert heatmap_note(result) == "showing 125,000 of 10,000,000 cell-steps (bins of 2 cells x 40 steps)"
    assert heatmap_note(SimpleNamespace(n_cells=10, n_steps=10, cell_bin=1, step_bin=1, sampled=False)) is None
    assert "sampling" in heatmap_note(SimpleNamespace(n_cells=10, n_steps=10, cell_bin=1, step_bin=1, sampled=True))
