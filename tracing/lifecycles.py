"""Lifecycles of a run from its raw events: the lifecycle convention of :mod:`tracing.schema`.

SQL only selects the run's *marks*, its writes and deaths with their rowid
(``tracing/queries/lifecycle_marks.sql``); numpy pairs each write with the next mark on its cell:
one sort of the marks per cell (by step, deaths before writes, then rowid: recording order) and a
look at the next row. The writes then come in the answer's order but for ties of ``(batch, stream,
cell, born)`` (several writes to one cell in one step), and only those rows are sorted again. On the
910 k marks of a 10 M-event run, ``TraceStore.lifecycles`` takes 150-185 ms this way against ~255 ms
for one SQL query with a ``lead()`` window and an ORDER BY (2 cores, docs/benchmarks/queries.md).
:func:`lifecycles_table` answers ``TraceStore.lifecycles`` for a run that is not indexed, and
``memscope index`` stores its rows.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from tracing.schema import DEATH_OPS, OPS, op_code

CAUSES: tuple[str, ...] = tuple(sorted(("censored", "overwrite", *DEATH_OPS)))
"""Every cause, sorted as SQL sorts text: a cause's index is its sort key."""

_WRITE = op_code("write")
_CENSORED = CAUSES.index("censored")
_OVERWRITE = CAUSES.index("overwrite")
_ENDS_AS = {"write": "overwrite", **{op: op for op in DEATH_OPS}}
_CAUSE_OF_OP = np.array([CAUSES.index(_ENDS_AS[op]) if op in _ENDS_AS else -1 for op in OPS])
"""Op code -> index in CAUSES of the end that op gives live content on its cell (-1: none)."""

LIFECYCLE_SCHEMA = pa.schema([
    ("batch", pa.int32()), ("memory", pa.string()), ("layer", pa.int16()), ("head", pa.int16()),
    ("cell", pa.int64()), ("born", pa.int64()), ("died", pa.int64()), ("duration", pa.int64()),
    ("observed", pa.int32()), ("cause", pa.string()), ("write_weight", pa.float32()), ("write_gate", pa.float32()),
])
"""The answer's columns, typed as ``memscope_lifecycles`` stores them."""


def lifecycles_table(marks: pa.Table, streams: list[tuple[int, str, int, int]], last_step: int) -> pa.Table:
    """One row per write of ``marks``, listed by batch, memory, layer, head, cell, born, died, cause,
    write_weight, write_gate (a total order: the answer of an indexed run is listed the same).

    ``marks``: the rows of lifecycle_marks.sql (batch, stream, cell, step, op, weight, gate, and seq:
    the recording order), in any order.
    ``streams``: ``(stream, memory, layer, head)`` of every stream the marks name, sorted by
    (memory, layer, head). ``last_step``: where content still alive is censored.
    """
    rank = _positions([row[0] for row in streams], marks["stream"].to_numpy())  # a stream's (memory, layer, head) rank
    batch, cell, step, op, seq = (marks[name].to_numpy() for name in ("batch", "cell", "step", "op", "seq"))
    order, same_cell, sorted_step = _sorted_marks([batch, rank, cell], step, op == _WRITE, seq)
    writes, died, cause = _next_marks(same_cell, sorted_step, op[order], last_step)
    rows = order[writes]  # the writes, by batch, stream rank, cell, born and recording order
    weight, gate = (marks[name].combine_chunks().take(rows) for name in ("weight", "gate"))
    # write i ties write i + 1 on (batch, stream, cell, born) exactly when write i + 1 overwrites it
    # in its own step (no death can sort between: deaths come first in a step)
    tie = (cause == _OVERWRITE) & (died == step[rows])
    ties = _tie_order(tie, [died, cause, weight, gate])
    rows, died, cause = rows[ties], died[ties], cause[ties]
    born, stream = step[rows].astype(np.int64), rank[rows]
    return pa.table({
        "batch": batch[rows].astype(np.int32),
        "memory": pa.array([row[1] for row in streams], pa.string()).take(stream),
        "layer": pa.array([row[2] for row in streams], pa.int16()).take(stream),
        "head": pa.array([row[3] for row in streams], pa.int16()).take(stream),
        "cell": cell[rows].astype(np.int64),
        "born": born,
        "died": died,
        "duration": died - born,
        "observed": (cause != _CENSORED).astype(np.int32),
        "cause": pa.array(CAUSES).take(cause),
        "write_weight": weight.take(ties),
        "write_gate": gate.take(ties),
    }, schema=LIFECYCLE_SCHEMA)


def _positions(ids: list[int], values: np.ndarray) -> np.ndarray:
    """The index in ``ids`` (distinct integers) of every value (each one of ``ids``)."""
    low = min(ids, default=0)
    index = np.zeros(max(ids, default=low) - low + 1, np.int32)
    index[np.asarray(ids, np.int64) - low] = np.arange(len(ids))
    return index[values - low]


def _sorted_marks(
    cell_keys: list[np.ndarray], step: np.ndarray, is_write: np.ndarray, seq: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Marks sorted per cell (named by the integer ``cell_keys``, most significant first), then by
    step, deaths before writes, then ``seq`` (distinct): the permutation ``order``, and in that
    order whether the next row marks the same cell (False for the last row) and each row's step.

    When the keys' ranges and the rank of ``seq`` fit in 63 bits they are packed into one int64
    that ``np.sort`` sorts in a few ms, the rank of ``seq`` in the low bits, and the cells and steps
    are read back from the sorted values (no gather); else ``np.lexsort``, several times slower."""
    by_seq = None if _increasing(seq) else np.argsort(seq)  # DuckDB mostly lists the marks in seq order
    ranks = np.arange(len(seq), dtype=np.int32)  # int32: half the memory to fault in
    rank = ranks if by_seq is None else np.empty_like(ranks)  # the rank of each row's seq
    if by_seq is not None:
        rank[by_seq] = ranks
    keys = [*cell_keys, step, is_write, rank]
    lows = [int(key.min()) if len(key) else 0 for key in keys]
    widths = [(int(key.max()) - low).bit_length() if len(key) else 0 for key, low in zip(keys, lows)]
    same_cell = np.zeros(len(seq), bool)
    if sum(widths) > 63:
        order = np.lexsort(keys[::-1])
        sorted_keys = [key[order] for key in cell_keys]
        same_cell[:-1] = np.logical_and.reduce([key[1:] == key[:-1] for key in sorted_keys])
        return order, same_cell, step[order]
    packed, field = np.zeros(len(seq), np.int64), np.empty(len(seq), np.int64)
    for key, low, width in zip(keys, lows, widths):
        packed <<= width
        packed |= np.subtract(key, low, out=field) if low else key
    packed.sort()
    step_width, below_step = widths[-3], widths[-2] + widths[-1]  # the step, then is_write and the seq rank
    np.right_shift(packed, below_step + step_width, out=field)  # the cell of each sorted row
    np.equal(field[1:], field[:-1], out=same_cell[:-1])
    np.right_shift(packed, below_step, out=field)  # its step
    field &= (1 << step_width) - 1
    field += lows[-3]
    packed &= (1 << widths[-1]) - 1  # its seq rank
    return (packed if by_seq is None else by_seq[packed]), same_cell, field


def _increasing(values: np.ndarray) -> bool:
    return bool(np.all(values[1:] > values[:-1]))


def _next_marks(same_cell: np.ndarray, step: np.ndarray, op: np.ndarray, last_step: int) -> tuple[np.ndarray, ...]:
    """For marks sorted per cell and within a cell in order (``same_cell[i]``: row i + 1 marks the
    cell of row i; ``step`` and ``op`` of each row): the positions of the writes, and the step and
    cause (index in CAUSES) of each one's end, the next mark on its cell, or ``last_step`` and
    censored when there is none."""
    writes = np.flatnonzero(op == _WRITE)
    ended = same_cell[writes]
    after = np.minimum(writes + 1, len(step) - 1)
    return writes, np.where(ended, step[after], np.int64(last_step)), np.where(ended, _CAUSE_OF_OP[op[after]], _CENSORED)


def _sql_keys(values: np.ndarray | pa.Array) -> list[np.ndarray]:
    """Sort keys that order ``values`` as SQL's ORDER BY does: an Arrow array of floats by
    null-ness, then value (numbers, then NaN, then NULL); a numpy array as it is."""
    if isinstance(values, np.ndarray):
        return [values]
    return [values.is_null().to_numpy(zero_copy_only=False), values.to_numpy(zero_copy_only=False)]


def _tie_order(tie: np.ndarray, then: list[np.ndarray | pa.Array]) -> np.ndarray:
    """The permutation that sorts each run of tied rows by ``then`` (see :func:`_sql_keys`); other
    rows stay. ``tie[i]``: row i ties row i + 1 (False for the last row)."""
    run = np.cumsum(~np.roll(tie, 1))  # a run starts after a row that ties no next one
    rows = np.flatnonzero(tie | np.roll(tie, 1))
    sort_keys = [run[rows], *(sort_key for key in then for sort_key in _sql_keys(key.take(rows)))]
    permutation = np.arange(len(tie))
    permutation[rows] = rows[np.lexsort(sort_keys[::-1])]
    return permutation
