"""Compare views: occupancy and its difference, two survival curves with log-rank, overlays, overlap."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines import KaplanMeierFitter
from lifelines.statistics import logrank_test

from app.figures.diff import (
    heatmap_diff_figure,
    heatmap_diff_frame,
    metric_overlay_figure,
    moment_overlap,
    moment_overlap_figure,
    occupancy_frame,
    survival_compare_figure,
)
from app.figures.notes import figure_notes


def life_rows(rows):
    """(cell, born, died, observed) tuples -> a lifecycles frame of one memory/head."""
    frame = pd.DataFrame(rows, columns=["cell", "born", "died", "observed"])
    return frame.assign(batch=0, memory="slot", layer=0, head=0, duration=frame["died"] - frame["born"], cause="evict", write_weight=1.0, write_gate=1.0)


def test_occupancy_marks_each_cell_alive_from_birth_to_death():
    lives = life_rows([(0, 1, 3, 1), (0, 3, 5, 0), (2, 0, 2, 1)])  # cell 0 overwritten at 3, censored
    occ = occupancy_frame(lives, n_steps=6).pivot(index="cell", columns="step", values="value")
    assert occ.loc[0].tolist() == [0, 1, 1, 1, 1, 1]  # born 1, re-written 3, alive to the end
    assert occ.loc[1].tolist() == [0] * 6
    assert occ.loc[2].tolist() == [1, 1, 0, 0, 0, 0]


def test_binned_occupancy_is_the_share_of_cells_alive_at_each_bin_start():
    lives = life_rows([(0, 0, 4, 1), (1, 2, 6, 1), (2, 0, 6, 0), (3, 5, 6, 0)])
    occ = occupancy_frame(lives, n_steps=6, cell_bin=2, step_bin=2).set_index(["cell", "step"])["value"]
    assert occ[(0, 0)] == 0.5 and occ[(0, 2)] == 1.0 and occ[(0, 4)] == 0.5
    assert occ[(2, 0)] == 0.5 and occ[(2, 4)] == 0.5


def test_difference_is_a_minus_b_on_the_union_of_bins():
    a = pd.DataFrame({"cell": [0, 1], "step": [0, 0], "value": [3.0, 1.0]})
    b = pd.DataFrame({"cell": [0, 2], "step": [0, 1], "value": [1.0, 4.0]})
    diff = heatmap_diff_frame(a, b, cell_bin=1, step_bin=1).set_index(["cell", "step"])
    assert diff.loc[(0, 0), "value"] == 2.0 and diff.loc[(1, 0), "value"] == 1.0 and diff.loc[(2, 1), "value"] == -4.0
    fig = heatmap_diff_figure(a, b, cell_bin=1, step_bin=1, labels=("run <A>", "B"))
    (trace,) = fig.data
    z = np.asarray(trace.z)
    assert z[0, 0] == 2.0 and z[2, 1] == -4.0
    assert trace.zmid == 0.0 and trace.zmin == -4.0 and trace.zmax == 4.0
    assert "run &lt;A&gt;" in trace.colorbar.title.text


def lives_from(rng, n, scale):
    d = rng.geometric(1 / scale, n)
    return life_rows(list(zip(range(n), [0] * n, d, (rng.random(n) < 0.8).astype(int))))


def test_two_survival_curves_with_the_logrank_test_in_the_title():
    rng = np.random.default_rng(0)
    a, b = lives_from(rng, 200, 5.0), lives_from(rng, 200, 9.0)
    fig = survival_compare_figure(a, b, labels=("memnet", "lstm"))
    lines = [t for t in fig.data if t.showlegend is not False]
    assert [t.name.split(" (")[0] for t in lines] == ["memnet", "lstm"]
    assert lines[1].line.dash == "dash"
    np.testing.assert_allclose(lines[1].y, KaplanMeierFitter().fit(b["duration"], b["observed"]).survival_function_.iloc[:, 0])
    expected = logrank_test(a["duration"], b["duration"], a["observed"], b["observed"])
    assert f"chi2 = {expected.test_statistic:.3g}, p = {expected.p_value:.3g}" in fig.layout.title.text


def test_survival_compare_says_when_no_test_is_possible():
    rng = np.random.default_rng(1)
    fig = survival_compare_figure(lives_from(rng, 20, 3.0), life_rows([]))
    assert figure_notes(fig) == ["the log-rank test needs lives in both runs"]


def test_metric_overlay_keeps_series_colours_and_dashes_b():
    a = pd.DataFrame({"run_id": "a", "step": None, "name": "accuracy", "value": [0.9, 0.8], "x": [8.0, 16.0], "series": "memnet"})
    b = a.assign(run_id="b", value=[0.7, 0.4])
    fig = metric_overlay_figure(a, b, "accuracy", labels=("ckpt-1", "ckpt-2"))
    first, second = fig.data
    assert (first.name, second.name) == ("ckpt-1: memnet", "ckpt-2: memnet")
    assert first.line.color == second.line.color and second.line.dash == "dash"
    assert list(second.y) == [0.7, 0.4]
    assert figure_notes(metric_overlay_figure(a, b.iloc[0:0], "accuracy")) == ["no 'accuracy' metric in B"]


def signatures(ids_list, steps):
    return pd.DataFrame(
        {"moment_id": range(len(steps)), "step": steps, "topk_ids": [np.array(i) for i in ids_list],
         "topk_probs": [np.array([0.6, 0.3]) for _ in ids_list]}
    )


def test_moment_overlap_counts_matches_by_divergence():
    a = signatures([[1, 2], [3, 4], [5, 6]], [10, 20, 30])
    b = signatures([[3, 4], [1, 2], [70, 80], [90, 91]], [21, 12, 5, 6])
    pairs, counts, note = moment_overlap(a, b, max_divergence=0.1)
    assert counts == {"only A": 1, "both": 2, "only B": 2, "jaccard": pytest.approx(2 / 5)}
    assert sorted(zip(pairs["step_a"], pairs["step_b"])) == [(10, 12), (20, 21)]
    assert note is None
    fig = moment_overlap_figure(a, b, max_divergence=0.1)
    bar, scatter = fig.data
    assert list(bar.y) == [1, 2, 2]
    assert sorted(scatter.x) == [10, 20]
    assert "Jaccard 0.40" in fig.layout.title.text


def test_moment_overlap_samples_large_sets_with_a_note():
    ids = [[i, i + 1] for i in range(0, 100, 2)]
    a = signatures(ids, list(range(50)))
    _, counts, note = moment_overlap(a, a, limit=20)
    assert note == "showing 20 of 50 moments of A; showing 20 of 50 moments of B"
    assert counts["only A"] + counts["both"] == 20
