"""File access confined to the folder the user chose (the app's ``--traces DIR``).

The app lists traces under one folder and opens only paths inside it: a relative path that is
absolute, climbs out with ``..`` or follows a symlink out of the folder is refused with
:class:`~tracing.errors.OutsideFolderError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tracing.errors import OutsideFolderError

TRACE_SUFFIX = ".duckdb"


@dataclass(frozen=True)
class TraceFile:
    """One trace under the folder: ``relative`` (its name as shown, POSIX style), ``path``, ``size_bytes``."""

    relative: str
    path: Path
    size_bytes: int


def _root(root: str | Path) -> Path:
    resolved = Path(root).expanduser().resolve()
    if not resolved.is_dir():
        raise FileNotFoundError(f"traces folder {root} does not exist or is not a folder; pass an existing folder")
    return resolved


def resolve_inside(root: str | Path, relative: str | Path) -> Path:
    """The real path of ``relative`` under ``root``; raises OutsideFolderError if it would escape."""
    base = _root(root)
    relative = Path(relative)
    if relative.is_absolute():
        raise OutsideFolderError(f"{relative} is an absolute path; give a path relative to {base}")
    candidate = (base / relative).resolve()
    if candidate != base and not candidate.is_relative_to(base):
        raise OutsideFolderError(f"{relative} points outside the traces folder {base}; pick a file inside it")
    return candidate


def list_traces(root: str | Path) -> list[TraceFile]:
    """Every ``*.duckdb`` file under ``root`` (recursively, symlinks out of it skipped), sorted by name."""
    base = _root(root)
    found = []
    for path in base.rglob(f"*{TRACE_SUFFIX}"):
        real = path.resolve()
        if not real.is_file() or not real.is_relative_to(base):
            continue
        found.append(TraceFile(path.relative_to(base).as_posix(), real, real.stat().st_size))
    return sorted(found, key=lambda trace: trace.relative)
