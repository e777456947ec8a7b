"""Errors a trace file can raise, each with a message that says what to do."""

from __future__ import annotations


class TraceError(Exception):
    """Base class: anything wrong with a trace file or a request to it."""


class NotATraceError(TraceError):
    """The file is not a memscope trace (random bytes, another DuckDB database, a truncated file)."""


class SchemaVersionError(TraceError):
    """The trace was written with a schema version this memscope cannot read."""


class TraceLockedError(TraceError):
    """Another process holds the file and did not release it in time."""


class UnknownRunError(TraceError):
    """The run id is not in the trace."""


class OutsideFolderError(TraceError):
    """A path escapes the folder the user chose."""
