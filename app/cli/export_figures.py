"""``memscope export-figures TRACE --run ID --out DIR``: the heatmap and survival figures as files.

For every memory of the run it writes the write, read and resonance heatmaps (those with
events) and the usage and age heatmaps (when cell states were recorded), then the Kaplan-Meier survival figure, each as PNG,
SVG and/or CSV of its data. File names are built from fixed words and the memory's name reduced
to ``[A-Za-z0-9_-]``; nothing is written outside DIR.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Callable, Optional

import typer

from app.cli import cli
from app.cli.errors import UserError

FORMATS = ("png", "svg", "csv")
HEATMAP_VALUES = (("write", "writes"), ("read", "reads"), ("resonance", "resonance hits"), ("usage", "usage"), ("age", "age"))
"""Heatmaps exported per memory: store value and colour bar label (empty ones are skipped)."""


@dataclass(frozen=True)
class Export:
    """One figure to write: its file stem, how to build it, and the frame behind its CSV."""

    stem: str
    build: Callable[[], tuple[object, object]]  # -> (plotly Figure, pandas DataFrame)


def parse_formats(text: str) -> tuple[str, ...]:
    """``"png,svg"`` -> ``("png", "svg")``; refuses unknown or empty lists in one line."""
    formats = tuple(dict.fromkeys(part.strip().lower() for part in text.split(",") if part.strip()))
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise UserError(f"unknown format {', '.join(unknown) or repr(text)}; use a comma-separated list of {', '.join(FORMATS)}")
    return formats


def safe_name(text: str) -> str:
    """A file-name-safe form of a memory name (``[A-Za-z0-9_-]``, never empty, never a path)."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", str(text)).strip("_") or "memory"


def plan_exports(store, run_id: str, *, stratify: str | None) -> list[Export]:
    """Every figure of the run: per memory its non-empty heatmaps, then one survival figure."""
    from app.figures.heatmap import heatmap_figure, heatmap_note
    from app.figures.survival import km_frame, survival_figure

    lifecycles = store.lifecycles(run_id)
    memories = sorted(set(lifecycles["memory"])) or sorted(set(store.event_counts(run_id)["memory"]))
    if not memories:
        raise UserError(f"run {run_id} has no memory events: nothing to export")
    exports = []
    for memory in memories:
        for value, label in HEATMAP_VALUES:
            def build(memory=memory, value=value, label=label):
                result = store.heatmap(run_id, value=value, memory=memory)
                fill = float("nan") if value in ("usage", "age") else 0.0
                fig = heatmap_figure(result.frame, cell_bin=result.cell_bin, step_bin=result.step_bin,
                                     title=f"{label} of {memory} memory, run {run_id}", value_label=label,
                                     note=heatmap_note(result), fill=fill)
                return fig, result.frame
            exports.append(Export(f"heatmap-{safe_name(memory)}-{value}", build))
    if stratify is None and len(memories) > 1:
        stratify = "memory"

    def build_survival():
        fig = survival_figure(lifecycles, stratify, title=f"Survival of cell content, run {run_id}")
        return fig, km_frame(lifecycles, stratify)

    if len(lifecycles):
        exports.append(Export("survival", build_survival))
    return exports


@cli.command("export-figures")
def export_figures_command(
    trace: Annotated[Path, typer.Argument(help="A memscope trace file (.duckdb).", show_default=False)],
    run: Annotated[str, typer.Option("--run", help="The run id (see `memscope runs TRACE`).", show_default=False)],
    out: Annotated[Path, typer.Option("--out", help="Folder to write the figures into (created if missing).", show_default=False)],
    formats: Annotated[str, typer.Option("--format", help="Comma-separated: png, svg, csv.")] = "png,svg,csv",
    stratify: Annotated[Optional[str], typer.Option("--stratify", help="Survival strata: head, memory, layer or write_strength (default: memory when the run has several, else none).")] = None,
) -> None:
    """Write the heatmap and survival figures of one run as PNG, SVG and CSV files."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from app.exports import ExportError, figure_png, figure_svg, frame_csv, start_export_server
    from app.figures.survival import STRATA
    from tracing.store import TraceStore

    wanted = parse_formats(formats)
    if stratify is not None and stratify not in STRATA:
        raise UserError(f"unknown --stratify {stratify!r}; use one of {', '.join(STRATA)}")
    if not trace.is_file():
        raise UserError(f"{trace} is not a file; give a memscope trace (.duckdb)")
    if out.exists() and not out.is_dir():
        raise UserError(f"{out} exists and is not a folder; choose a folder for the figures")
    store = TraceStore(trace)
    exports = plan_exports(store, run, stratify=stratify)
    out.mkdir(parents=True, exist_ok=True)
    root = out.resolve()
    images = [f for f in wanted if f != "csv"]
    console = Console(stderr=True)
    written: list[Path] = []
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True, disable=not console.is_terminal) as progress:
        task = progress.add_task("exporting figures", total=len(exports))
        try:
            if images:
                start_export_server()
            for export in exports:
                progress.update(task, description=f"exporting {export.stem}")
                fig, frame = export.build()
                if not len(frame):
                    progress.advance(task)
                    continue
                for fmt in wanted:
                    path = root / f"{export.stem}.{fmt}"
                    if fmt == "png":
                        path.write_bytes(figure_png(fig))
                    elif fmt == "svg":
                        path.write_bytes(figure_svg(fig))
                    else:
                        path.write_bytes(frame_csv(frame))
                    written.append(path)
                progress.advance(task)
        except ExportError as exc:
            raise UserError(str(exc)) from None
    for path in written:
        print(path)
    console.print(f"{len(written)} file(s) written to {root}", highlight=False, markup=False)
