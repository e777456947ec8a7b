"""tracing.gather copies 1-D CPU tensors into a column buffer in one compiled pass: every value cast as
numpy casts it, in order, whatever the tensors' strides and offsets, with their lowest and highest value."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tracing.gather import gather

PAIRS = [(torch.int64, np.int32), (torch.int32, np.int16), (torch.int16, np.int32), (torch.float64, np.float32),
         (torch.float32, np.float32), (torch.int8, np.float32), (torch.uint8, np.int16)]


def _sources(dtype: torch.dtype) -> list[torch.Tensor]:
    """Tensors of every memory form a call can hand over: contiguous, an offset view, a strided column
    of a 2-D tensor, an expanded scalar (stride 0), one value."""
    g = torch.Generator().manual_seed(1)
    wide = (torch.randint(-100, 100, (40,), generator=g) if not dtype.is_floating_point else torch.randn(40, generator=g) * 50)
    wide = wide.abs() if dtype == torch.uint8 else wide
    base = wide.to(dtype)
    return [base[:7], base[5:19], base.reshape(20, 2)[:, 1], base[3:4].expand(6), base[39:]]


@pytest.mark.parametrize("source, target", PAIRS, ids=lambda p: str(p))
def test_values_lengths_and_range_match_cat_and_cast(source, target):
    tensors = _sources(source)
    lengths = [len(t) for t in tensors]
    out = np.full(sum(lengths) + 3, 99, target)  # a buffer larger than the slice: the tail stays as it was
    low, high = gather(tensors, lengths, np.dtype(str(source).removeprefix("torch.")), out, track=True)
    joined = torch.cat(tensors).numpy()
    np.testing.assert_array_equal(out[: len(joined)], joined.astype(target))
    assert (out[len(joined) :] == 99).all()
    assert (low, high) == (joined.min(), joined.max())


def test_without_tracking_copies_the_same_values():
    tensors = _sources(torch.float32)
    out = np.empty(sum(map(len, tensors)), np.float32)
    gather(tensors, [len(t) for t in tensors], np.dtype(np.float32), out, track=False)
    np.testing.assert_array_equal(out, torch.cat(tensors).numpy())


def test_extreme_int64_values_are_tracked_exactly():
    """The range check that guards narrowing must see values far outside int32, at either end."""
    tensors = [torch.tensor([5, 2**40]), torch.tensor([-(2**62), 0])]
    low, high = gather(tensors, [2, 2], np.dtype(np.int64), np.empty(4, np.int32), track=True)
    assert (low, high) == (-(2**62), 2**40)


def test_tensors_without_plain_memory_are_declined():
    sparse = torch.sparse_coo_tensor(torch.tensor([[0, 2]]), torch.tensor([1, 2]), (4,), check_invariants=True)
    assert gather([sparse], [4], np.dtype(np.int64), np.empty(4, np.int32), track=True) is None


def test_an_empty_tensor_is_declined():
    assert gather([torch.zeros(0, dtype=torch.int64)], [0], np.dtype(np.int64), np.empty(0, np.int32), track=True) is None
