"""One-line errors for the command line."""

from __future__ import annotations

import sys

import click

from tracing.errors import TraceError


class UserError(Exception):
    """Bad input from the user: printed as one line, exit status 2."""


EXPECTED = (UserError, TraceError, click.ClickException, click.exceptions.Exit, click.exceptions.Abort, FileNotFoundError, PermissionError, ValueError)


def fail(exc: BaseException) -> None:
    """Print ``error: <reason>`` on one line and exit with the right status."""
    if isinstance(exc, click.exceptions.Exit):
        sys.exit(exc.exit_code)
    if isinstance(exc, click.exceptions.Abort):
        print("error: aborted", file=sys.stderr)
        sys.exit(1)
    if isinstance(exc, click.ClickException):
        exc.show()
        sys.exit(exc.exit_code)
    message = " ".join(str(exc).split()) or type(exc).__name__
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)
