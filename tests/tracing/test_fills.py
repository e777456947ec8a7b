"""fill_numeric writes a column into reused buffers exactly as tracing.columns.column builds it (values,
range checks), or declines (None) for the forms it leaves to column; NULL columns share one array."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tracing import fills
from tracing.buffers import SliceBuffers
from tracing.columns import column
from tracing.fills import fill_numeric
from tracing.flushing import SLICE_ROWS
from tracing.schema import LIMITS, STREAM_SCHEMAS, OutOfRangeError

EVENTS = STREAM_SCHEMAS["stream_events"]


def filled(name: str, values: list, sizes: list[int]) -> np.ndarray | None:
    buffers = SliceBuffers("stream_events", sum(sizes) + 5)  # larger than the slice, as a pooled one
    out = buffers.columns[name][: sum(sizes)]
    return fill_numeric(name, values, sizes, out, buffers, LIMITS.get(name))


def reference(name: str, values: list, sizes: list[int]) -> np.ndarray:
    return column(EVENTS.field(name), values, sizes, sum(sizes), LIMITS.get(name)).to_numpy()


CASES = {
    "scalars per call": ("step", [3, 4, 9], [2, 0, 5]),
    "many small scalar calls": ("step", list(range(40)), [1] * 40),
    "scalars, calls of one size": ("step", [3, 4, 9], [4, 4, 4]),
    "int64 arrays into int32": ("cell", [np.arange(3, dtype=np.int64), np.arange(4, dtype=np.int64) + 7], [3, 4]),
    "int32 arrays, same dtype": ("cell", [np.arange(5, dtype=np.int32)], [5]),
    "float32 tensors": ("weight", [torch.rand(3), torch.rand(6)], [3, 6]),
    "float64 tensors into float32": ("weight", [torch.rand(4, dtype=torch.float64)], [4]),
    "int64 tensors into int32": ("cell", [torch.arange(6), torch.arange(2) + 100], [6, 2]),
    "float scalars": ("weight", [0.5, 1.25], [3, 2]),
}


@pytest.mark.parametrize("case", CASES)
def test_fill_matches_column(case):
    name, values, sizes = CASES[case]
    got, expected = filled(name, values, sizes), reference(name, values, sizes)
    assert got is not None, "a simple form must take the fast path"
    np.testing.assert_array_equal(got, expected)
    assert got.dtype == expected.dtype


DECLINED = {
    "bf16 tensors": ("weight", [torch.rand(3).bfloat16()], [3]),
    "fp16 tensors": ("weight", [torch.rand(3).half()], [3]),
    "a broadcast one-element tensor": ("weight", [torch.rand(1), torch.rand(4)], [3, 4]),
    "lists": ("cell", [[1, 2, 3]], [3]),
    "mixed dtypes": ("cell", [np.arange(2, dtype=np.int64), np.arange(2, dtype=np.int32)], [2, 2]),
    "floats into an integer column": ("cell", [np.array([1.5, 2.5])], [2]),
    "2-D tensors": ("weight", [torch.rand(2, 2)], [4]),
    "NULLs in some calls": ("weight", [None, np.ones(2, np.float32)], [3, 2]),
}


@pytest.mark.parametrize("case", DECLINED)
def test_other_forms_are_left_to_column(case):
    name, values, sizes = DECLINED[case]
    assert filled(name, values, sizes) is None


@pytest.mark.parametrize(
    "values",
    [[np.array([0, LIMITS["cell"][1] + 1], dtype=np.int64)], [torch.tensor([LIMITS["cell"][0] - 1, 1])], [LIMITS["cell"][1] + 1]],
    ids=["array", "tensor", "scalar"],
)
def test_out_of_range_values_raise_as_column_does(values):
    sizes = [len(values[0]) if hasattr(values[0], "__len__") else 1]
    with pytest.raises(OutOfRangeError):
        reference("cell", values, sizes)
    with pytest.raises(OutOfRangeError):
        filled("cell", values, sizes)


def test_null_columns_are_slices_of_one_kept_array_per_type():
    gate, other_cell = EVENTS.field("gate").type, EVENTS.field("other_cell").type
    short, slice_long, huge = (fills.null_column(gate, rows) for rows in (7, SLICE_ROWS, fills.NULL_ROWS + 1))
    assert (len(short), len(slice_long), len(huge)) == (7, SLICE_ROWS, fills.NULL_ROWS + 1)
    assert all(a.null_count == len(a) and a.type == gate for a in (short, slice_long, huge))
    assert short.buffers()[1].address == slice_long.buffers()[1].address  # one kept array serves every slice
    assert huge.buffers()[1].address != short.buffers()[1].address  # longer than a slice: not kept
    assert fills.null_column(other_cell, 4).type == other_cell


def test_tensor_views_of_any_layout_fill_as_column_does():
    """Calls may hand over views (a column of a 2-D tensor, an offset slice, an expanded scalar): the
    compiled pass reads them through their strides."""
    base = torch.arange(100, dtype=torch.int64) * 3
    values = [base.reshape(50, 2)[:, 0], base[10:17], torch.tensor(41).expand(5)]
    sizes = [50, 7, 5]
    np.testing.assert_array_equal(filled("cell", values, sizes), reference("cell", values, sizes))


def test_sparse_tensors_are_left_to_column():
    sparse = torch.sparse_coo_tensor(torch.tensor([[0, 2]]), torch.tensor([1.0, 2.0]), (4,), check_invariants=True)
    assert filled("weight", [sparse], [4]) is None


def test_tensors_with_nulls_in_other_calls_are_left_to_column():
    """A column set by some calls only: the chunks mix tensors and None (NULL rows)."""
    values, sizes = [torch.rand(3), None, torch.rand(2)], [3, 4, 2]
    assert filled("weight", values, sizes) is None
    assert np.isnan(column(EVENTS.field("weight"), values, sizes, 9).to_numpy(zero_copy_only=False)[3:7]).all()
