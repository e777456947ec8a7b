"""Trace file commands: ``memscope runs|info|export|import|index|migrate``.

Each reads or writes trace files through :mod:`tracing` only; a bad file or argument ends in one
``error: ...`` line (exit 2) through :func:`app.cli.main`. Tables go to stdout, progress bars to
stderr.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from app.cli import cli
from app.cli.errors import UserError

PIPED_WIDTH = 4096
TraceArg = Annotated[Path, typer.Argument(help="A memscope trace file (.duckdb).", show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]

RUN_TABLE_COLUMNS = (
    ("run_id", "run id"), ("name", "name"), ("status", "status"), ("family", "family"), ("model", "model"),
    ("input", "input"), ("n_steps", "steps"), ("n_events", "events"), ("n_moments", "moments"),
)


def _stdout() -> Console:
    """stdout without markup or highlighting: run names and paths are printed verbatim.

    Piped output is not squeezed into 80 columns (a table is as wide as its content)."""
    piped = not Console().is_terminal
    return Console(highlight=False, markup=False, emoji=False, width=PIPED_WIDTH if piped else None)


@contextmanager
def _progress(description: str, unit: str) -> Iterator[Callable[[int, int], None]]:
    """A rich progress bar on stderr; yields ``update(done, total)`` for tracing's progress callbacks."""
    console = Console(stderr=True)
    bar = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn(unit), TimeElapsedColumn(),
        console=console, transient=True, disable=not console.is_terminal,
    )
    task = bar.add_task(description, total=None)
    with bar:
        yield lambda done, total: bar.update(task, completed=done, total=total)


def _text(value: object) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return str(value)


@cli.command("runs")
def runs_command(trace: TraceArg, as_json: JsonOpt = False) -> None:
    """List the runs of TRACE: id, name, status, family, model, input and counts."""
    from tracing.store import TraceStore

    frame = TraceStore(trace).runs()
    if as_json:
        records = frame[[c for c, _ in RUN_TABLE_COLUMNS]].astype(object).where(frame.notna(), None).to_dict("records")
        print(json.dumps(records, default=str, indent=2))
        return
    table = Table(title=Text(f"{len(frame)} run(s) in {trace}"), title_justify="left")
    for column, header in RUN_TABLE_COLUMNS:
        numeric = column.startswith("n_")
        table.add_column(header, justify="right" if numeric else "left", overflow="fold", no_wrap=column in ("run_id", "status") or numeric)
    for row in frame.itertuples(index=False):
        table.add_row(*(Text(_text(getattr(row, column))) for column, _ in RUN_TABLE_COLUMNS))
    _stdout().print(table)


@cli.command("info")
def info_command(trace: TraceArg, as_json: JsonOpt = False) -> None:
    """Show TRACE's schema version, size and the row count of every table."""
    from tracing.store import TraceStore

    info = TraceStore(trace).info()
    if as_json:
        print(json.dumps(info, indent=2))
        return
    console = _stdout()
    console.print(f"trace           {info['path']}")
    console.print(f"schema version  {info['schema_version']}")
    console.print(f"size            {info['size_bytes']:,} bytes")
    console.print(f"indexed runs    {info['indexed_runs']}")
    table = Table("table", "rows")
    table.columns[1].justify = "right"
    for name, rows in info["tables"].items():
        table.add_row(name, f"{rows:,}")
    console.print(table)


@cli.command("export")
def export_command(
    trace: TraceArg,
    out: Annotated[Path, typer.Option("--out", help="Folder to write the export into (must not hold one already).", show_default=False)],
    run: Annotated[Optional[list[str]], typer.Option("--run", help="Run id to export; repeat for several.", show_default=False)] = None,
    all_runs: Annotated[bool, typer.Option("--all", help="Export every run of TRACE.")] = False,
    format: Annotated[str, typer.Option("--format", help="Output format (only parquet).")] = "parquet",  # noqa: A002
) -> None:
    """Export runs of TRACE to Parquet, hive-partitioned by run (OUT/<table>/run_id=<id>/)."""
    from tracing.parquet import export_runs

    if format != "parquet":
        raise UserError(f"unknown --format {format!r}; the only export format is parquet")
    if bool(run) == all_runs:
        raise UserError("give the runs to export with --run ID (repeatable) or --all, not both")
    with _progress("exporting", "rows") as update:
        manifest = export_runs(trace, None if all_runs else run, out, progress=update)
    rows = sum(manifest["rows"].values())
    print(f"exported {len(manifest['runs'])} run(s), {rows:,} rows, to {out}")


@cli.command("import")
def import_command(
    folder: Annotated[Path, typer.Argument(help="A folder written by `memscope export`.", show_default=False)],
    out: Annotated[Path, typer.Option("--out", help="Trace file to add the runs to (created when missing).", show_default=False)],
) -> None:
    """Import the runs of a Parquet export FOLDER into the trace OUT."""
    from tracing.parquet import import_runs

    with _progress("importing", "rows") as update:
        run_ids = import_runs(folder, out, progress=update)
    print(f"imported {len(run_ids)} run(s) into {out}: {', '.join(run_ids)}")


@cli.command("index")
def index_command(
    trace: TraceArg,
    run: Annotated[Optional[list[str]], typer.Option("--run", help="Run id to index; repeat for several (default: every finished run).", show_default=False)] = None,
) -> None:
    """Pre-aggregate lifecycles and event counts of TRACE's finished runs (writes to TRACE)."""
    from tracing.store import index_runs

    with _progress("indexing", "runs") as update:
        run_ids = index_runs(trace, run or None, progress=update)
    print(f"indexed {len(run_ids)} run(s) in {trace}" + (f": {', '.join(run_ids)}" if run_ids else ""))


@cli.command("migrate")
def migrate_command(trace: TraceArg) -> None:
    """Upgrade TRACE in place to the schema version of this memscope."""
    import duckdb

    from tracing import connection
    from tracing.connection import open_trace, schema_version_of

    probe = open_trace(trace, read_only=True, validate=False)
    try:
        before = schema_version_of(probe)
    except duckdb.Error:
        before = None  # not a trace: the validating open below says what it is
    finally:
        probe.close()
    with _progress(f"migrating {trace.name} from schema {before}", "") if before is not None and before < connection.SCHEMA_VERSION else nullcontext():
        con = open_trace(trace, read_only=False)  # upgrades on open: re-writes every event of a v1 file
    try:
        after = schema_version_of(con)
    finally:
        con.close()
    if before == after:
        print(f"{trace} is already at schema {after}; nothing to do")
    else:
        print(f"{trace} migrated from schema {before} to schema {after}")
