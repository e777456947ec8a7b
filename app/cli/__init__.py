"""The ``memscope`` command line: one module per command group, registered here.

Every command exits non-zero with a one-line ``error: ...`` on bad input (never a traceback):
raise :class:`app.cli.errors.UserError` or any :class:`tracing.errors.TraceError`.
"""

from __future__ import annotations

import sys

import typer

from app.cli import errors

cli = typer.Typer(
    name="memscope",
    help="An observatory for memory-augmented neural networks: record, inspect and replay memory traces.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register_commands() -> None:
    """Import each command module; each adds its commands to :data:`cli`."""
    from app.cli import trace_commands  # noqa: F401  (runs, info, export, import)
    from app.cli import app_command  # noqa: F401  (app)
    from app.cli import train_command  # noqa: F401  (train memnet|transformer|transformer-window|lstm)
    from app.cli import eval_command  # noqa: F401  (eval)
    from app.cli import train_cls  # noqa: F401  (train cls, train cls-samples)
    from app.cli import export_figures  # noqa: F401  (export-figures)
    from app.cli import train_lm  # noqa: F401  (train lm)
    from app.cli import trace_command  # noqa: F401  (trace)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script."""
    _register_commands()
    try:
        cli(args=argv, standalone_mode=False)
    except errors.EXPECTED as exc:
        errors.fail(exc)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        sys.exit(130)
