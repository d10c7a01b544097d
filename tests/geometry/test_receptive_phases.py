"""Receptive fields through upsampling (fields that repeat a pattern of phases), checked
against a brute-force walk: on an unbounded line, the input pixels each output position
depends on, through random chains of sliding windows and transposed windows (nearest and
linear upsampling, transposed convolutions), and through merges of two chains."""

from __future__ import annotations

import functools
from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from stridescope.geometry import ReceptiveField
from stridescope.geometry.receptive import union

# one layer: ("window" | "scatter", kernel, stride, dilation, pad_before)
Layer = tuple[str, int, int, int, int]
Reads = Callable[[int], frozenset[int]]

layers = st.tuples(
    st.sampled_from(["window", "scatter"]),
    st.integers(1, 5),
    st.integers(1, 3),
    st.integers(1, 2),
    st.integers(-2, 4),
)


def _reads(layer: Layer) -> Callable[[int], list[int]]:
    """The parent positions output ``o`` of ``layer`` reads (an unbounded line)."""
    kind, k, s, d, p = layer
    if kind == "window":
        return lambda o: [o * s - p + m * d for m in range(k)]
    return lambda o: [(o + p - j * d) // s for j in range(k) if (o + p - j * d) % s == 0]


def _brute(chain: list[Layer]) -> Reads:
    """Output position -> the input pixels it depends on, through ``chain``."""

    def through(below: Reads, layer: Layer) -> Reads:
        reads = _reads(layer)

        @functools.cache
        def seen(o: int) -> frozenset[int]:
            return frozenset().union(*[below(i) for i in reads(o)])

        return seen

    found: Reads = lambda i: frozenset({i})  # noqa: E731
    for layer in chain:
        found = through(found, layer)
    return found


def _field(chain: list[Layer]) -> ReceptiveField | None:
    field: ReceptiveField | None = ReceptiveField()
    for kind, k, s, d, p in chain:
        if field is None:
            return None
        field = field.then(k, s, d, p) if kind == "window" else field.scattered(k, s, d, p)
    return field


def _agrees(field: ReceptiveField, seen: Reads) -> None:
    for o in range(-6, 18):
        pixels = seen(o)
        assert pixels, f"output {o} reads nothing"
        assert field.span(o) == (min(pixels), max(pixels) + 1), (o, field)
    assert field.size == max(field.span(o)[1] - field.span(o)[0] for o in range(field.period))


@settings(max_examples=400, deadline=None)
@given(st.lists(layers, min_size=1, max_size=5))
def test_a_chain_of_windows_and_scatters_has_the_brute_force_fields(chain: list[Layer]) -> None:
    field = _field(chain)
    seen = _brute(chain)
    if field is None:  # only for a fractional jump, or a layer with an output of no input
        jump, justified = 1, False
        for n, (kind, _, s, _, _) in enumerate(chain):
            if kind == "window":
                jump *= s
                continue
            if jump % s:
                justified = True
                break
            jump //= s
            prefix = _brute(chain[: n + 1])
            if any(not prefix(o) for o in range(-6, 18)):
                justified = True
                break
        assert justified, chain
        return
    _agrees(field, seen)


@settings(max_examples=200, deadline=None)
@given(st.lists(layers, min_size=1, max_size=4), st.lists(layers, min_size=1, max_size=4))
def test_the_merge_of_two_chains_is_the_union_of_what_each_output_reads(
    left: list[Layer], right: list[Layer]
) -> None:
    a, b = _field(left), _field(right)
    if a is None or b is None:
        return
    found = union([a, b])
    if a.jump != b.jump:
        assert found is None
        return
    assert found is not None
    one, two = _brute(left), _brute(right)
    _agrees(found, lambda o: one(o) | two(o))


def test_a_nearest_upsampling_then_a_stride_two_window_gives_the_field_back() -> None:
    down = ReceptiveField().then(3, 2, 1, 1).then(3, 2, 1, 1)  # jump 4
    up = down.scattered(2, 2)
    assert up is not None and up.jump == 2 and up.period == 2
    assert up.size == down.size  # each output copies one input: its field
    assert up.then(1, 2) == down


def test_upsampling_past_the_input_resolution_has_no_field() -> None:
    assert ReceptiveField().scattered(2, 2) is None  # a jump of half a pixel
    assert ReceptiveField(3, 2, -1).scattered(1, 2) is None  # every other output: no input
