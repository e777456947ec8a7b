"""Token text as HTML: escaped, coloured by value, cursor outlined."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from app.figures.tokens import token_colors, tokens_html

STEPS = pd.DataFrame(
    {
        "step": [0, 1, 2, 3],
        "token_text": ["<script>alert(1)</script>", ' "quoted" & ', "\n", " plain"],
        "surprisal": [np.nan, 0.0, 4.0, 8.0],
        "entropy": [1.0, 1.0, 1.0, 1.0],
        "kl": [0.0, 0.0, 0.0, 0.0],
    }
)


class Spans(HTMLParser):
    def __init__(self):
        super().__init__()
        self.spans, self.tags = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "span":
            self.spans.append({**dict(attrs), "text": ""})

    def handle_data(self, data):
        if self.spans:
            self.spans[-1]["text"] += data


def parse(text: str) -> Spans:
    parser = Spans()
    parser.feed(text)
    return parser


def test_token_text_is_escaped_and_round_trips():
    html_text = tokens_html(STEPS)
    assert "<script>" not in html_text
    parsed = parse(html_text)
    assert set(parsed.tags) == {"div", "span"}
    assert [s["text"] for s in parsed.spans] == STEPS["token_text"].tolist()


def test_each_token_is_coloured_by_its_value():
    parsed = parse(tokens_html(STEPS, color_by="surprisal", vmax=8.0))
    backgrounds = [re.search(r"background:(rgb\([^)]*\))", s["style"]).group(1) for s in parsed.spans]
    assert backgrounds[0] == "rgb(229,231,235)"  # no surprisal for the first token: grey
    assert backgrounds[1] == "rgb(255,255,255)"  # 0 -> white
    assert backgrounds[2] == "rgb(253,224,71)"  # half way -> amber
    assert backgrounds[3] == "rgb(239,68,68)"  # vmax -> red
    assert parsed.spans[3]["title"] == "step 3: surprisal 8.000"
    entropy = parse(tokens_html(STEPS, color_by="entropy"))
    assert len({s["style"] for s in entropy.spans}) == 1  # equal values, equal colours


def test_cursor_token_is_outlined_and_the_future_dimmed():
    parsed = parse(tokens_html(STEPS, cursor=2, dim_after_cursor=True))
    (cursor,) = [s for s in parsed.spans if s.get("id") == "memscope-cursor"]
    assert cursor["data-step"] == "2" and "outline" in cursor["style"]
    assert "opacity" in parsed.spans[3]["style"] and "opacity" not in parsed.spans[1]["style"]


def test_colors_scale_to_the_95th_percentile_by_default():
    colors = token_colors(np.arange(101, dtype=float))
    assert colors[95] == colors[100] == "rgb(239,68,68)"


def test_unknown_colouring_is_refused():
    with pytest.raises(ValueError, match="unknown colour"):
        tokens_html(STEPS, color_by="loss")
