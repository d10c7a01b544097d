"""Receptive fields through upsampling (fields that repeat a pattern of phases), checked
against a brute-force walk: on an unbounded line, the input pixels each output position
depends on, through random chains of sliding windows, transposed windows (nearest and
linear upsampling, transposed convolutions, past the input's resolution too) and resizes by
ratios that are not whole (each output's own inputs, as geometry's ``resize_reads`` and
``adaptive_spans`` give them, repeating along the line), and through merges of two
chains."""

from __future__ import annotations

import functools
from collections.abc import Callable
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from stridescope.geometry import ReceptiveField, adaptive_spans, resize_reads, resize_step
from stridescope.geometry.receptive import _pattern, union

# one layer: ("window" | "scatter", kernel, stride, dilation, pad_before), or a resize of
# ``n`` inputs to ``out`` outputs: ("resize", n, out, mode index, align corners)
Layer = tuple[str, int, int, int, int]
Reads = Callable[[int], frozenset[int]]
MODES = ("nearest", "nearest-exact", "linear", "cubic", "area")

layers = st.tuples(
    st.sampled_from(["window", "scatter"]),
    st.integers(1, 5),
    st.integers(1, 3),
    st.integers(1, 2),
    st.integers(-2, 4),
) | st.tuples(
    st.just("resize"),
    st.integers(1, 9),
    st.integers(1, 9),
    st.integers(0, len(MODES) - 1),
    st.integers(0, 1),
)


def _resize(layer: Layer) -> tuple[tuple[tuple[int, int], ...], Fraction]:
    """Per output of a resize layer, the ``[first, end)`` inputs it reads, and the step
    between its outputs' sources."""
    _, n, out, index, corners = layer
    mode = MODES[index]
    aligned = bool(corners) and mode in ("linear", "cubic")
    if mode == "area":
        return adaptive_spans(n, out), Fraction(n, out)
    found = resize_reads(n, out, mode, aligned)
    assert found is not None
    return found, resize_step(n, out, mode, aligned)


def _reads(layer: Layer) -> Callable[[int], list[int]]:
    """The parent positions output ``o`` of ``layer`` reads (an unbounded line; a resize's
    reads go on as geometry's pattern of them says: checked below)."""
    kind, k, s, d, p = layer
    if kind == "window":
        return lambda o: [o * s - p + m * d for m in range(k)]
    if kind == "resize":
        pattern, inputs = _pattern(*_resize(layer)[:1], k, _resize(layer)[1])
        q = len(pattern)
        return lambda o: [o // q * inputs + i for i in range(*pattern[o % q])]
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
    for layer in chain:
        kind, k, s, d, p = layer
        if field is None:
            return None
        if kind == "resize":
            field = field.gathered(*_resize(layer)[:1], k, _resize(layer)[1])
        else:
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
    if field is None:  # only for a transposed window with an output of no input
        assert any(
            kind == "scatter" and any(not _brute(chain[: n + 1])(o) for o in range(-6, 18))
            for n, (kind, *_) in enumerate(chain)
        ), chain
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


def test_upsampling_past_the_input_resolution_has_a_fractional_jump() -> None:
    up = ReceptiveField().scattered(2, 2)  # nearest 2x of the input itself
    assert up is not None and up.jump == Fraction(1, 2) and up.move == 1
    assert [up.span(o) for o in range(4)] == [(0, 1), (0, 1), (1, 2), (1, 2)]
    assert up.then(1, 2) == ReceptiveField()  # a stride-2 layer after it: the input's again
    assert ReceptiveField(3, 2, -1).scattered(1, 2) is None  # every other output: no input


def test_a_resize_by_fifteen_fourteenths_repeats_every_fourteen_outputs() -> None:
    field = ReceptiveField().gathered(resize_reads(240, 224, "linear") or (), 240)
    assert field is not None and field.jump == Fraction(15, 14) and field.period == 14
    assert field.size == 2 and type(field.then(1, 14).jump) is int  # 15 px on: whole again


def test_aligned_corners_step_by_one_less_over_one_less() -> None:
    reads = resize_reads(8, 16, "linear", align_corners=True) or ()
    step = resize_step(8, 16, "linear", align_corners=True)
    field = ReceptiveField().gathered(reads, 8, step)
    assert step == Fraction(7, 15) and field is not None and field.jump == step
    assert field.span(15) == (7, 8)  # the last output on the last pixel
    assert field.span(-1) == (-1, 1)  # one step before the first: pixels -1 and 0


def test_fields_whose_ends_move_back_compose_as_hulls() -> None:
    # a transposed window with gaps between its taps: output 1 copies input -1, output 3
    # input 1 and output 4 input 0 (the ends move back); a window over 3 and 4 sees both
    gappy = ReceptiveField(1, 3, 0).scattered(kernel=3, stride=3, dilation=2)
    assert gappy is not None
    assert [gappy.span(o) for o in range(6)] == [(0, 1), (-3, -2), (0, 1), (3, 4), (0, 1), (3, 4)]
    assert gappy.then(2).span(3) == (0, 4)


@settings(max_examples=300, deadline=None)
@given(
    st.integers(1, 40),
    st.integers(1, 40),
    st.integers(0, len(MODES) - 1),
    st.integers(0, 1),
)
def test_a_resizes_pattern_holds_every_output_and_steps_as_its_sources(
    n: int, out: int, mode: int, corners: int
) -> None:
    reads, step = _resize(("resize", n, out, mode, corners))
    pattern, inputs = _pattern(reads, n, step)
    q = len(pattern)
    assert (q, inputs) in ((step.denominator, step.numerator), (out, n))
    for o, (first, end) in enumerate(reads):
        a, b = pattern[o % q]
        a, b = a + o // q * inputs, b + o // q * inputs
        assert a <= first < end <= b  # never less than the output reads
        if first > 0 and end < n:
            assert (a, b) == (first, end)  # inside the axis: just what it reads


@given(
    st.lists(st.tuples(st.integers(-20, 20), st.integers(1, 30)), min_size=2, max_size=9),
    st.integers(1, 12),
    st.integers(2, 13),
    st.integers(-50, 50),
)
def test_the_centre_of_a_phased_field_is_exact(
    spans: list[tuple[int, int]], over: int, under: int, start: int
) -> None:
    """The centre of fields that repeat in phases (a fractional jump: a resize by 2.5) is
    the exact mean rounded once, so two fields on the same grid compare equal: float sums
    left them 1e-16 apart, a misaligned merge to lint's DS301 (RetinaNet's shortcuts, after
    its resize of 320 to 800, until 2026-12-07)."""
    jump = Fraction(over, under)
    phases = tuple((a, a + n) for a, n in spans)
    field = ReceptiveField(max(b for _, b in phases), jump, start, phases)
    offsets = [Fraction(a + b - 1, 2) - p * jump for p, (a, b) in enumerate(phases)]
    assert field.centre == float(start + sum(offsets) / len(offsets))
