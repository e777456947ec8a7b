"""A recorder that forwards every call to several recorders (trace file + in-memory analysis)."""

from __future__ import annotations

from typing import Any

from tracing.recorder import Recorder


class TeeRecorder:
    """Enabled when any target is; each call goes to every enabled target."""

    def __init__(self, *targets: Recorder) -> None:
        self.targets = [t for t in targets if t.enabled]
        self.enabled = bool(self.targets)
        self.run_id = self.targets[0].run_id if self.targets else None

    def steps(self, **columns: Any) -> None:
        for t in self.targets:
            t.steps(**columns)

    def events(self, **columns: Any) -> None:
        for t in self.targets:
            t.events(**columns)

    def cell_states(self, **columns: Any) -> None:
        for t in self.targets:
            t.cell_states(**columns)

    def moments(self, **columns: Any) -> None:
        for t in self.targets:
            t.moments(**columns)

    def metric(self, name: str, value: float, **columns: Any) -> None:
        for t in self.targets:
            t.metric(name, value, **columns)

    def finish(self, status: str = "complete") -> None:
        for t in self.targets:
            t.finish(status)
