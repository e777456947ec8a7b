"""memscope's Streamlit app: four pages, one file each, joined by ``st.navigation``.

Started by ``memscope app`` as ``streamlit run app/streamlit_app.py -- --traces DIR``; with no
arguments it opens on the repository's ``sample_traces/`` (see :mod:`app.state`).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app.state import parse_app_args

PAGES_DIR = Path(__file__).resolve().parent / "pages"

st.set_page_config(page_title="memscope", page_icon=":material/memory:", layout="wide")

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
