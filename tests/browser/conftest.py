"""A running ``memscope app`` and a headless Debian chromium driven by Playwright.

Chromium comes from Debian (``apt-get install chromium``), never from ``playwright install``.
Without ``/usr/bin/chromium`` the browser tests are skipped, unless ``MEMSCOPE_REQUIRE_BROWSER=1``
(CI sets it), in which case they fail.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
REPO_ROOT = Path(__file__).resolve().parents[2]
MEMSCOPE = Path(sys.executable).with_name("memscope")


def _trace_builders():
    """The trace builders of tests/app/conftest.py (the same small traces the AppTest tests use)."""
    spec = importlib.util.spec_from_file_location("app_trace_builders", REPO_ROOT / "tests" / "app" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def chromium() -> Path:
    if not CHROMIUM.exists():
        if os.environ.get("MEMSCOPE_REQUIRE_BROWSER") == "1":
            pytest.fail("MEMSCOPE_REQUIRE_BROWSER=1 but /usr/bin/chromium is missing: apt-get install chromium")
        pytest.skip("no /usr/bin/chromium (apt-get install chromium); set MEMSCOPE_REQUIRE_BROWSER=1 to fail instead")
    import playwright.sync_api  # noqa: F401  (a dev dependency: missing it is an install error, not a skip)
    return CHROMIUM


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def app_url(chromium, tmp_path_factory: pytest.TempPathFactory, artifacts_dir: Path):
    """``memscope app`` on a free port over a folder of small traces; killed (its process group) at the end."""
    traces = tmp_path_factory.mktemp("browser-traces")
    builders = _trace_builders()
    builders.record_moment_run(traces / "moment.duckdb")
    builders.record_slot_run(traces / "memnet.duckdb", name="memnet-a", seed=1)
    builders.record_slot_run(traces / "memnet.duckdb", name="memnet-b", seed=2)
    port = _free_port()
    log = (artifacts_dir / "browser-app.log").open("w")
    server = subprocess.Popen(
        [str(MEMSCOPE), "app", "--traces", str(traces), "--runs", str(traces / "runs"), "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=str(traces),
        env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"memscope app did not start (exit {server.poll()}); see {artifacts_dir / 'browser-app.log'}")
            time.sleep(0.5)
        yield url, traces
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=5)
        log.close()


@pytest.fixture(scope="module")
def browser(chromium):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture()
def page(browser):
    """A fresh page; ``page.console_errors`` collects console errors and uncaught page errors."""
    context = browser.new_context(viewport={"width": 1500, "height": 1800}, accept_downloads=True)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    tab.on("pageerror", lambda error: errors.append(f"page error: {error}"))
    tab.console_errors = errors
    yield tab
    context.close()
