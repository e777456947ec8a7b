"""Running the ``memscope`` command line in-process from tests."""

from __future__ import annotations

from app.cli import main


def run_cli(argv, capsys) -> tuple[int, str, str]:
    """Run ``memscope ARGV``; return (exit status, stdout, stderr)."""
    code = 0
    try:
        main([str(a) for a in argv])
    except SystemExit as exc:
        code = exc.code or 0
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line_error(code: int, err: str, phrase: str) -> bool:
    """True when the command failed with status 2 and one ``error: ...`` line containing ``phrase``."""
    lines = err.strip().splitlines()
    return code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and phrase in lines[0] and "Traceback" not in err
