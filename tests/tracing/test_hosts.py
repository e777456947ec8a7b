"""The DuckDBs a process keeps: a finished recorder's instance serves the next one, live recorders never
share one, the idle ones are bounded, and a forked child never uses its parent's."""

from __future__ import annotations

import os

import pytest
import torch

import tracing.hosts as hosts
from tracing.connection import read_trace
from tracing.writer import DuckDBRecorder


@pytest.fixture(autouse=True)
def _no_idle_hosts():
    """Each test starts and ends with no idle writer instance in this process."""
    hosts.release_idle_writer_hosts()
    yield
    hosts.release_idle_writer_hosts()


def _record(rec: DuckDBRecorder, step: int) -> None:
    rec.events(step=step, op="write", memory="slot", cell=torch.arange(3))


def test_a_finished_recorders_instance_serves_the_next_recorder(tmp_path):
    first = DuckDBRecorder(tmp_path / "a.duckdb", family="memnet", index_on_finish=False)
    used = first._host
    _record(first, 0)
    first.finish()
    assert hosts._idle_writer_hosts[os.getpid()] == [used]
    assert used.execute("SELECT count(*) FROM duckdb_databases() WHERE NOT internal").fetchone() == (1,)  # memory only
    second = DuckDBRecorder(tmp_path / "b.duckdb", family="memnet", index_on_finish=False)
    assert second._host is used
    _record(second, 1)
    second.finish()
    for name in ("a", "b"):
        with read_trace(tmp_path / f"{name}.duckdb") as con:  # released, complete
            assert con.execute("SELECT status FROM runs").fetchall() == [("complete",)]
            assert con.execute("SELECT count(*) FROM memory_events").fetchone() == (3,)
    assert used.execute("SELECT current_setting('threads')").fetchone() == (hosts.WRITER_THREADS,)


def test_live_recorders_never_share_an_instance_and_idle_ones_are_bounded(tmp_path):
    live = [DuckDBRecorder(tmp_path / f"{i}.duckdb", family="memnet", index_on_finish=False) for i in range(hosts.IDLE_WRITER_HOSTS + 1)]
    assert len({id(rec._host) for rec in live}) == len(live)
    for step, rec in enumerate(live):
        _record(rec, step)
    for rec in live:
        rec.finish()
    kept = hosts._idle_writer_hosts[os.getpid()]
    assert len(kept) == hosts.IDLE_WRITER_HOSTS
    closed = [rec._host for rec in live if all(rec._host is not host for host in kept)]
    assert len(closed) == 1
    with pytest.raises(Exception, match="closed"):
        closed[0].execute("SELECT 1")


def test_idle_instances_can_be_given_back(tmp_path):
    rec = DuckDBRecorder(tmp_path / "a.duckdb", family="memnet", index_on_finish=False)
    rec.finish()
    kept = hosts._idle_writer_hosts[os.getpid()][0]
    hosts.release_idle_writer_hosts()
    assert not hosts._idle_writer_hosts.get(os.getpid())
    with pytest.raises(Exception, match="closed"):
        kept.execute("SELECT 1")


def test_a_recorder_that_cannot_open_its_file_leaves_its_instance_idle(tmp_path):
    foreign = tmp_path / "foreign.bin"
    foreign.write_bytes(b"not a trace" * 100)
    with pytest.raises(Exception):
        DuckDBRecorder(foreign, family="memnet")
    assert len(hosts._idle_writer_hosts[os.getpid()]) == 1


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_builds_its_own_writer_instance(tmp_path):
    parent = DuckDBRecorder(tmp_path / "parent.duckdb", family="memnet", index_on_finish=False)
    parent.finish()
    inherited = hosts._idle_writer_hosts[os.getpid()][0]
    pid = os.fork()
    if pid == 0:  # the child: exit code 0 only if it recorded through an instance of its own
        try:
            rec = DuckDBRecorder(tmp_path / "child.duckdb", family="memnet", index_on_finish=False)
            ok = rec._host is not inherited
            _record(rec, 0)
            rec.finish()
            ok = ok and hosts._idle_writer_hosts[os.getpid()] == [rec._host]
        except BaseException:  # noqa: BLE001 - reported through the exit code
            ok = False
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    taken = hosts.take_writer_host()
    assert taken is inherited  # the parent's idle instance is still its own
    taken.close()
    with read_trace(tmp_path / "child.duckdb") as con:
        assert con.execute("SELECT count(*) FROM memory_events").fetchone() == (3,)
