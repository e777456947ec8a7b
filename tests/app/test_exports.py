"""Exports: PNG is a decodable PNG of the asked size, SVG parses as XML, CSV round-trips."""

from __future__ import annotations

import io
import struct
import xml.etree.ElementTree as ET
import zlib

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from app.exports import figure_frame, figure_png, figure_svg, frame_csv, start_export_server
from app.figures.heatmap import heatmap_figure

pytestmark = pytest.mark.xdist_group("kaleido")


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk, after checking the signature and CRC."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    body = data[16 : 16 + length]
    (crc,) = struct.unpack(">I", data[16 + length : 20 + length])
    assert crc == zlib.crc32(kind + body)
    width, height = struct.unpack(">II", body[:8])
    return width, height


def png_pixels_decode(data: bytes) -> int:
    """Inflate every IDAT chunk; returns the number of raw bytes (proves the image data decodes)."""
    pos, idat = 8, b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if kind == b"IDAT":
            idat += data[pos + 8 : pos + 8 + length]
        pos += 12 + length
    return len(zlib.decompress(idat))


@pytest.fixture(scope="module")
def figure():
    frame = pd.DataFrame({"cell": [0, 1, 2], "step": [0, 1, 2], "value": [1.0, 2.0, 3.0]})
    return heatmap_figure(frame, cell_bin=1, step_bin=1, title="writes <slot>", value_label="writes")


def test_png_is_a_valid_image_of_the_asked_size(figure):
    data = figure_png(figure, width=400, height=300, scale=2)
    assert png_size(data) == (800, 600)
    assert png_pixels_decode(data) >= 800 * 600 * 3  # at least RGB rows (+ filter bytes)


def test_svg_parses_as_xml_and_keeps_the_escaped_title(figure):
    start_export_server()
    start_export_server()  # idempotent
    data = figure_svg(figure, width=500, height=400)
    root = ET.fromstring(data)
    assert root.tag.endswith("svg")
    assert root.get("width") == "500" and root.get("height") == "400"
    assert "writes <slot>" in "".join(root.itertext())


def test_csv_round_trips_numbers_text_and_lists():
    frame = pd.DataFrame(
        {
            "step": [0, 1, 2],
            "token_text": [' "a", b', "line\nbreak", "é<ü>"],
            "entropy": [0.125, np.nan, 2.5],
            "topk_ids": [np.array([1, 2]), np.array([3]), np.array([], dtype=np.int64)],
        }
    )
    back = pd.read_csv(io.BytesIO(frame_csv(frame)), keep_default_na=True)
    assert back["step"].tolist() == [0, 1, 2]
    assert back["token_text"].tolist() == frame["token_text"].tolist()
    np.testing.assert_array_equal(back["entropy"].to_numpy(), frame["entropy"].to_numpy())
    assert back["topk_ids"].tolist() == ["[1, 2]", "[3]", "[]"]


def test_figure_frame_lists_every_point(figure):
    long = figure_frame(figure)
    assert len(long) == 9 and set(long["trace"]) == {"writes"}
    assert long[(long["x"] == 2) & (long["y"] == 2)]["z"].item() == 3.0
    lines = figure_frame(go.Figure([go.Scatter(x=[1, 2], y=[3, 4], name="a"), go.Scatter(x=[5], y=[6], name="b")]))
    assert lines.values.tolist() == [["a", 1, 3], ["a", 2, 4], ["b", 5, 6]]
