"""memscope app: the streamlit command line it builds, its refusals, and a real start on 127.0.0.1."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

import app.cli.app_command as app_command
from tests.cli_helpers import run_cli as cli


def test_app_runs_streamlit_bound_to_localhost(tmp_path, capsys, monkeypatch):
    launched = []
    monkeypatch.setattr(app_command.subprocess, "run", lambda cmd, check: launched.append(cmd) or subprocess.CompletedProcess(cmd, 0))
    code, _, _ = cli(["app", "--traces", str(tmp_path), "--port", "8765"], capsys)
    assert code == 0
    (command,) = launched
    assert command[:5] == [sys.executable, "-m", "streamlit", "run", str(app_command.APP_DIR / "streamlit_app.py")]
    separator = command.index("--")
    options = dict(zip(command[5:separator:2], command[6:separator:2]))
    assert {key: options[key] for key in ("--server.address", "--server.port", "--server.headless")} == {
        "--server.address": "127.0.0.1", "--server.port": "8765", "--server.headless": "true"}
    assert command[separator:] == ["--", "--traces", str(tmp_path.resolve())]


def test_app_defaults_to_sample_traces(capsys, monkeypatch):
    launched = []
    monkeypatch.setattr(app_command.subprocess, "run", lambda cmd, check: launched.append(cmd) or subprocess.CompletedProcess(cmd, 0))
    if not app_command.SAMPLE_TRACES.is_dir():
        pytest.fail("the repository ships sample_traces/")
    cli(["app"], capsys)
    assert launched[0][-2:] == ["--traces", str(app_command.SAMPLE_TRACES.resolve())]
    assert launched[0][launched[0].index("--server.port") + 1] == "8501"


@pytest.mark.parametrize("argv, phrase", [
    (["app", "--traces", "/no/such/folder"], "does not exist"),
    (["app", "--port", "70000"], "is not a TCP port"),
])
def test_app_bad_input_is_one_line(argv, phrase, capsys):
    code, _, err = cli(argv, capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and phrase in lines[0] and "Traceback" not in err


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_app_really_serves_on_localhost(tmp_path):
    port = _free_port()
    memscope = os.path.join(os.path.dirname(sys.executable), "memscope")
    proc = subprocess.Popen([memscope, "app", "--traces", str(tmp_path), "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        body = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).read()
                break
            except OSError:
                time.sleep(0.5)
        assert body == b"ok", proc.stderr.read() if proc.poll() is not None else "no answer in 60 s"
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)
