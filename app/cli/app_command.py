"""``memscope app``: start the Streamlit app on a traces folder, bound to 127.0.0.1."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from app.cli import cli
from app.cli.errors import UserError

APP_DIR = Path(__file__).resolve().parents[1]
STREAMLIT_APP = APP_DIR / "streamlit_app.py"
SAMPLE_TRACES = APP_DIR.parent / "sample_traces"
HOST = "127.0.0.1"


def streamlit_command(traces: Path, port: int, runs: Path | None = None) -> list[str]:
    """The ``streamlit run`` command line that serves the app on ``HOST:port`` over ``traces``."""
    command = [
        sys.executable, "-m", "streamlit", "run", str(STREAMLIT_APP),
        "--server.address", HOST, "--server.port", str(port), "--server.headless", "true",
        "--browser.gatherUsageStats", "false",  # offline: no usage-stats requests (console errors)
        "--client.toolbarMode", "minimal",  # no "Deploy" button in a local observatory
        "--", "--traces", str(traces),
    ]
    if runs is not None:
        command += ["--runs", str(runs)]
    return command


@cli.command("app")
def app_command(
    traces: Annotated[Optional[Path], typer.Option("--traces", help="Folder of .duckdb traces to open (default: the shipped sample_traces/).", show_default=False)] = None,
    port: Annotated[int, typer.Option("--port", help="Port on 127.0.0.1.")] = 8501,
    runs: Annotated[Optional[Path], typer.Option("--runs", help="Folder where live runs started from the app are recorded (default: ./runs).", show_default=False)] = None,
) -> None:
    """Start the memscope app (Streamlit) on a folder of traces, at http://127.0.0.1:PORT."""
    folder = (traces or SAMPLE_TRACES).expanduser().resolve()
    if not folder.is_dir():
        raise UserError(f"traces folder {folder} does not exist or is not a folder; pass --traces DIR")
    if not 1 <= port <= 65535:
        raise UserError(f"--port {port} is not a TCP port; use 1-65535")
    if not STREAMLIT_APP.is_file():
        raise UserError(f"the app file {STREAMLIT_APP} is missing; reinstall memscope")
    print(f"memscope app on http://{HOST}:{port} over {folder} (Ctrl+C stops it)", file=sys.stderr)
    completed = subprocess.run(streamlit_command(folder, port, runs and runs.expanduser().resolve()), check=False)
    if completed.returncode not in (0, -2, 130):
        raise typer.Exit(completed.returncode)
