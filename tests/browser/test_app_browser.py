"""The app in a real browser: every page loads, Live streams tokens, the Replay cursor moves, a PNG
downloads, and no page logs a console error. Screenshots go to test-artifacts/."""

from __future__ import annotations

import io
import re
import struct

import pytest
from PIL import Image

from tracing.store import TraceStore

pytestmark = pytest.mark.browser
TIMEOUT_MS = 90_000


def _open(page, url: str, title: str) -> None:
    page.goto(url)
    page.get_by_role("heading", name=title, level=1).wait_for(timeout=TIMEOUT_MS)


def _idle(page) -> None:
    """Wait until the script run is over (Streamlit keeps stale elements on screen while it runs)."""
    page.wait_for_timeout(300)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden", timeout=TIMEOUT_MS)


def _click(page, key: str) -> None:
    _idle(page)
    page.locator(f".st-key-{key} button").first.click()


def _navigate(page, title: str) -> None:
    """Client-side navigation through the sidebar (direct loads of sub-paths make Streamlit probe 404s)."""
    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name=title).click()
    page.get_by_role("heading", name=title, level=1).wait_for(timeout=TIMEOUT_MS)


def test_replay_cursor_moves_and_png_downloads(page, app_url, artifacts_dir):
    url, traces = app_url
    runs = TraceStore(traces / "moment.duckdb").runs()
    run_id = runs["run_id"].iloc[0]
    steps = TraceStore(traces / "moment.duckdb").timeline(run_id).set_index("step")
    _open(page, f"{url}/?trace=moment.duckdb&run={run_id}&cursor=5", "Replay")
    page.get_by_text("Cursor at step 5:").wait_for(timeout=TIMEOUT_MS)
    _click(page, "replay-forward")
    page.get_by_text(f"Cursor at step 6: token {steps.at[6, 'token_text']!r}").wait_for(timeout=TIMEOUT_MS)
    page.wait_for_url(re.compile(r"cursor=6"), timeout=TIMEOUT_MS)
    _idle(page)
    page.locator(".st-key-replay-cursor input[type=range]").first.press("ArrowRight")
    page.get_by_text("Cursor at step 7:").wait_for(timeout=TIMEOUT_MS)
    assert page.locator("#memscope-cursor").inner_text() == steps.at[7, "token_text"]
    _idle(page)
    with page.expect_download(timeout=TIMEOUT_MS) as download:
        _click(page, "replay-hm-heatmap-png")
    data = open(download.value.path(), "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    image = Image.open(io.BytesIO(data))
    image.load()
    assert image.size == (width, height) and width > 300 and height > 200
    assert download.value.suggested_filename.endswith("-heatmap-write.png")
    page.screenshot(path=str(artifacts_dir / "browser-replay.png"), full_page=True)
    assert page.console_errors == []


def test_live_streams_tokens_and_records_the_run(page, app_url, artifacts_dir):
    url, traces = app_url
    _open(page, url, "Replay")
    _navigate(page, "Live")
    page.locator(".st-key-live-prompt textarea").fill("The lighthouse keeper climbed the stairs and")
    page.locator(".st-key-live-max input").fill("12")
    page.locator(".st-key-live-max input").press("Enter")
    _click(page, "live-start")
    tokens = page.locator(".memscope-token")
    tokens.first.wait_for(timeout=TIMEOUT_MS)
    first = tokens.count()
    page.wait_for_function(f"document.querySelectorAll('.memscope-token').length > {first}", timeout=TIMEOUT_MS)
    page.get_by_text("Recorded to").wait_for(timeout=TIMEOUT_MS)
    assert re.search(r"\*?\*?12 tokens generated", page.locator("body").inner_text())
    page.get_by_text("Moment timeline").first.wait_for(timeout=TIMEOUT_MS)
    page.screenshot(path=str(artifacts_dir / "browser-live.png"), full_page=True)
    recorded = list((traces / "runs").glob("live-*.duckdb"))
    assert len(recorded) == 1
    runs = TraceStore(recorded[0]).runs()
    assert list(runs["status"]) == ["complete"] and runs["input"].iloc[0].startswith("The lighthouse keeper")
    assert page.console_errors == []


def test_runs_and_compare_pages_load(page, app_url, artifacts_dir):
    url, _ = app_url
    _open(page, url, "Replay")
    _navigate(page, "Runs")
    page.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=TIMEOUT_MS)
    page.get_by_role("link", name=re.compile("^Replay ")).wait_for(timeout=TIMEOUT_MS)
    page.screenshot(path=str(artifacts_dir / "browser-runs.png"), full_page=True)
    _navigate(page, "Compare")
    page.locator(".stPlotlyChart").first.wait_for(timeout=TIMEOUT_MS)
    page.get_by_role("heading", name="Differences").wait_for(timeout=TIMEOUT_MS)
    page.screenshot(path=str(artifacts_dir / "browser-compare.png"), full_page=True)
    assert page.console_errors == []
