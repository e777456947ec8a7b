"""Moment timeline: the metric lines, the threshold and cursor, and one glyph per event step."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from app.figures.notes import figure_notes
from app.figures.timeline import glyph_counts, timeline_figure


def steps_frame(n: int = 6) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "step": np.arange(n),
            "token_text": [" a", " <b>", " c", " d", " e", " f"][:n] if n <= 6 else [f" t{i}" for i in range(n)],
            "surprisal": np.linspace(1.0, 3.0, n),
            "entropy": np.array([0.5, 2.5, 0.7, 3.1, 0.4, 0.9][:n]) if n <= 6 else np.abs(np.sin(np.arange(n))) * 3,
            "kl": np.full(n, 0.1),
        }
    )


EVENTS = pd.DataFrame(
    {
        "step": [1, 1, 3, 3, 3, 4, 5, 5],
        "memory": ["moment", "slot", "moment", "moment", "moment", "moment", "moment", "moment"],
        "op": ["write", "write", "write", "read", "resonance", "resonance", "merge", "prune"],
        "n": [1, 2, 1, 4, 2, 1, 1, 3],
    }
)


def by_name(fig, name):
    return [t for t in fig.data if t.name == name]


def test_glyph_counts_sum_memories_and_gather_deaths_in_the_evict_row():
    glyphs = glyph_counts(EVENTS).set_index(["row", "step"])
    assert glyphs.loc[("write", 1), "n"] == 3  # 1 moment + 2 slot writes
    assert glyphs.loc[("read", 3), "n"] == 4
    assert glyphs.loc[("evict", 5), "n"] == 4
    assert glyphs.loc[("evict", 5), ["merge", "prune", "evict", "decay"]].tolist() == [1, 3, 0, 0]
    assert len(glyphs) == 6


def test_figure_has_three_lines_and_one_glyph_per_event_step():
    fig = timeline_figure(steps_frame(), EVENTS, metric="entropy", threshold=2.0, cursor=3)
    assert {t.name for t in fig.data if t.mode == "lines"} == {"entropy", "surprisal", "kl"}
    (entropy,) = by_name(fig, "entropy")
    assert entropy.line.width > by_name(fig, "kl")[0].line.width  # the chosen metric is bold
    counts = {row: (list(t.x), [int(c[0]) for c in t.customdata] if t.customdata is not None else []) for row in ("write", "read", "resonance", "evict") for t in by_name(fig, row)}
    assert counts["write"] == ([1, 3], [3, 1])
    assert counts["read"] == ([3], [4])
    assert counts["resonance"] == ([3, 4], [2, 1])
    assert counts["evict"] == ([5], [4])


def test_threshold_and_cursor_are_drawn():
    fig = timeline_figure(steps_frame(), EVENTS, metric="surprisal", threshold=2.25, cursor=3)
    hlines = [s for s in fig.layout.shapes if s.y0 == s.y1 == 2.25]
    vlines = [s for s in fig.layout.shapes if s.x0 == s.x1 == 3]
    assert len(hlines) == 1 and hlines[0].name == "threshold" and hlines[0].yref == "y"
    assert len(vlines) == 1 and (vlines[0].yref, vlines[0].y0, vlines[0].y1) == ("paper", 0, 1)  # crosses both panels
    (marker,) = by_name(fig, "cursor")
    assert list(marker.x) == [3] and marker.y[0] == pytest.approx(2.2)  # surprisal at step 3


def test_hover_tokens_are_escaped():
    fig = timeline_figure(steps_frame(), EVENTS, metric="entropy")
    (entropy,) = by_name(fig, "entropy")  # the bold line carries the tokens
    assert " &lt;b&gt;" in entropy.text and " <b>" not in entropy.text


def test_whatif_row_shows_the_steps_a_threshold_would_store():
    fig = timeline_figure(steps_frame(), EVENTS, whatif_steps=[1, 3])
    (would,) = by_name(fig, "would store")
    assert list(would.x) == [1, 3]
    assert "would store" in fig.layout.yaxis2.categoryarray


def test_unknown_metric_is_refused():
    with pytest.raises(ValueError, match="unknown metric"):
        timeline_figure(steps_frame(), EVENTS, metric="loss")


def test_long_runs_are_binned_keeping_spikes_and_say_so():
    steps = steps_frame(1000)
    steps.loc[537, "entropy"] = 50.0
    events = pd.DataFrame({"step": np.arange(0, 1000, 10), "memory": "moment", "op": "write", "n": 1})
    fig = timeline_figure(steps, events, max_points=100)
    (entropy,) = by_name(fig, "entropy")
    assert len(entropy.x) == 100
    assert max(entropy.y) == 50.0  # the spike survives the binning (max per bin)
    (write,) = by_name(fig, "write")
    assert sum(int(c[0]) for c in write.customdata) == 100  # every event still counted
    assert figure_notes(fig) == ["showing 100 of 1,000 steps (max over bins of 10)"]
