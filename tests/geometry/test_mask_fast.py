"""The slice-per-tap read mask, fraction and counts against the definition, index by index:
output ``o`` reads ``o*stride - before + j*dilation`` for every tap ``j`` inside ``[0, n)``."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stridescope.geometry import (
    GeometryError,
    output_size,
    read_counts,
    read_fraction,
    read_mask,
    resolve_padding,
)
from stridescope.geometry.padding import PaddingArg
from tests.window_reference import window_reads


def _reference(
    n: int, kernel: int, stride: int, dilation: int, padding: PaddingArg, ceil_mode: bool
) -> list[int]:
    out = output_size(n, kernel, stride, dilation, padding, ceil_mode) or 0
    before, _ = resolve_padding(n, kernel, stride, dilation, padding)
    counts = [0] * n
    for _, i in window_reads(out, n, kernel, stride, dilation, before):
        counts[i] += 1
    return counts


_PADDING = st.one_of(
    st.sampled_from(["valid", "same"]),
    st.integers(0, 4),
    st.tuples(st.integers(0, 4), st.integers(0, 4)),
)


@settings(max_examples=600)
@given(
    st.integers(1, 60),
    st.integers(1, 7),
    st.integers(1, 6),
    st.integers(1, 3),
    _PADDING,
    st.booleans(),
)
def test_fast_mask_counts_and_fraction_match_the_definition(
    n: int, kernel: int, stride: int, dilation: int, padding: PaddingArg, ceil_mode: bool
) -> None:
    args = (n, kernel, stride, dilation, padding, ceil_mode)
    try:
        expected = _reference(*args)
    except GeometryError:
        return  # invalid geometry: the fast functions must refuse it too
    counts = read_counts(*args)
    assert counts == expected
    assert read_mask(*args) == [c > 0 for c in expected]
    assert read_fraction(*args) == sum(c > 0 for c in expected) / n


def test_large_axis_is_exact() -> None:
    """A 2048-pixel axis: stem conv 7x7 s2 p3 reads all, a 1x1 s4 one in four, a pool with
    stride > kernel and 'valid' padding drops the tail."""
    assert read_fraction(2048, 7, 2, 1, 3) == 1.0
    assert read_fraction(2048, 1, 4) == 0.25
    mask = read_mask(2047, 2, 3)
    assert mask == [c > 0 for c in _reference(2047, 2, 3, 1, "valid", False)]
    assert sum(mask) == 1364 and mask[-1] is False
    assert read_counts(2048, 3, 1, 2, "same") == _reference(2048, 3, 1, 2, "same", False)


@pytest.mark.parametrize("fn", [read_counts, read_mask, read_fraction])
@pytest.mark.parametrize("args", [(5, 7, 1, 1, "valid"), (8, 0, 1, 1, "valid")])
def test_invalid_windows_still_raise(fn: Callable[..., object], args: tuple[object, ...]) -> None:
    with pytest.raises(GeometryError):
        fn(*args)
