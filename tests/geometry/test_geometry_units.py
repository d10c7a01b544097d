"""Tables of known cases for padding, output sizes and errors; receptive fields against a
brute-force walk back through the chain."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stridescope.geometry import (
    GeometryError,
    ReceptiveField,
    output_shape,
    output_size,
    paddings,
    resolve_padding,
)


@pytest.mark.parametrize(
    ("n", "kernel", "stride", "dilation", "padding", "expected"),
    [
        (32, 1, 2, 1, "same", (0, 0)),  # the seed's 1x1 stride-2 conv
        (32, 3, 2, 1, "same", (0, 1)),  # TF/Keras: the odd pixel at the end
        (224, 4, 2, 1, "same", (1, 1)),
        (225, 4, 2, 1, "same", (1, 2)),
        (7, 3, 1, 2, "same", (2, 2)),
        (6, 4, 1, 1, "torch-same", (1, 2)),  # torch: total // 2 before
        (6, 3, 1, 3, "torch-same", (3, 3)),
        (9, 3, 3, 1, "valid", (0, 0)),
        (9, 3, 3, 1, 2, (2, 2)),
        (9, 3, 3, 1, (0, 3), (0, 3)),
        (5, 1, 4, 1, "SAME", (0, 0)),
    ],
)
def test_resolve_padding_table(
    n: int, kernel: int, stride: int, dilation: int, padding: object, expected: tuple[int, int]
) -> None:
    assert resolve_padding(n, kernel, stride, dilation, padding) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: output_size(5, 7),
            "output size would be 0 for input=5, kernel=7, stride=1, dilation=1, padding=(0, 0)",
        ),
        (
            lambda: resolve_padding(8, 3, 2, 1, "torch-same"),
            "PyTorch padding='same' needs stride 1; received input=8, kernel=3, stride=2, "
            "dilation=1, padding='torch-same'",
        ),
        (
            lambda: resolve_padding(8, 3, 1, 1, "full"),
            "padding must be one of valid, same, torch-same, an int or (before, after); "
            "received input=8, kernel=3, stride=1, dilation=1, padding='full'",
        ),
        (
            lambda: output_shape((8, 8), (3, 3, 3)),
            "kernel has 3 values (3, 3, 3) but the input has 2 spatial axes",
        ),
        (
            lambda: resolve_padding(8, 3, 1, 1, (1, -1)),
            "explicit padding must be non-negative integers (before, after); received "
            "input=8, kernel=3, stride=1, dilation=1, padding=(1, -1)",
        ),
    ],
)
def test_errors_name_every_input(call: object, message: str) -> None:
    with pytest.raises(GeometryError) as error:
        call()  # type: ignore[operator]
    assert str(error.value) == message


def test_unknown_sizes_stay_unknown_except_same() -> None:
    assert output_shape((None, 9), 3, 1, padding="valid") == (None, 7)
    assert output_size(None, 3, 2, padding="same") is None
    assert paddings((6, 5), 3, 2, padding="same") == ((0, 1), (1, 1))


@settings(max_examples=300)
@given(
    st.lists(
        st.tuples(st.integers(1, 5), st.integers(1, 3), st.integers(1, 2), st.integers(0, 2)),
        min_size=1,
        max_size=4,
    )
)
def test_receptive_field_matches_brute_force(chain: list[tuple[int, int, int, int]]) -> None:
    """Walk output positions 0 and 1 back through the chain on an unbounded axis."""

    def reached(o: int) -> set[int]:
        positions = {o}
        for kernel, stride, dilation, before in reversed(chain):
            positions = {
                p * stride - before + t * dilation for p in positions for t in range(kernel)
            }
        return positions

    rf = ReceptiveField()
    for kernel, stride, dilation, before in chain:
        rf = rf.then(kernel, stride, dilation, before)
    first, second = reached(0), reached(1)
    assert rf.start == min(first)
    assert rf.size == max(first) - min(first) + 1
    assert rf.jump == min(second) - min(first)
