"""memscope's Streamlit app: four pages, one file each, joined by ``st.navigation``.

Started by ``memscope app`` as ``streamlit run app/streamlit_app.py -- --traces DIR``; with no
arguments it opens on the repository's ``sample_traces/`` (see :mod:`app.state`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st
from PIL import Image

from app.state import parse_app_args

PAGES_DIR = Path(__file__).resolve().parent / "pages"


def page_icon() -> Image.Image:
    """A 32x32 icon drawn here (a 4x4 grid of memory cells, some written), so nothing is fetched."""
    icon = np.full((32, 32, 3), 255, np.uint8)
    written = {(0, 1), (1, 3), (2, 0), (2, 2), (3, 1)}
    for row in range(4):
        for col in range(4):
            colour = (220, 38, 38) if (row, col) in written else (37, 99, 235)
            icon[row * 8 + 1 : row * 8 + 7, col * 8 + 1 : col * 8 + 7] = colour
    return Image.fromarray(icon)


st.set_page_config(page_title="memscope", page_icon=page_icon(), layout="wide")

pages = [
    st.Page(PAGES_DIR / "replay.py", title="Replay", icon=":material/replay:", url_path="replay", default=True),
    st.Page(PAGES_DIR / "live.py", title="Live", icon=":material/bolt:", url_path="live"),
    st.Page(PAGES_DIR / "compare.py", title="Compare", icon=":material/compare:", url_path="compare"),
    st.Page(PAGES_DIR / "runs.py", title="Runs", icon=":material/table_rows:", url_path="runs"),
]
page = st.navigation(pages)

with st.sidebar:
    st.markdown("**memscope** · an observatory for memory-augmented networks")
    st.caption(f"Traces: `{parse_app_args().traces}`")

page.run()
