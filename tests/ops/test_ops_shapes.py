"""Every operator: output ceil(H/2) x ceil(W/2) for odd and even sizes, and the IR agrees."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from stridescope.errors import StridescopeError, UnknownNameError
from stridescope.ir import GraphBuilder
from stridescope.ops import create_op, op_names, op_options

SIZES = [(h, w) for h in range(1, 10) for w in (h, 10 - h)] + [(31, 32), (57, 40)]
VARIANTS = [(name, {}) for name in op_names()] + [
    ("blurpool_conv1x1", {"filter_size": k, "padding": p})
    for k in (3, 4, 5)
    for p in ("uneven", "even")
]


def _ceil_half(n: int) -> int:
    return -(-n // 2)


def _ir(
    op: torch.nn.Module, shape: tuple[int, int, int, int]
) -> tuple[tuple[int | None, ...], int]:
    builder = GraphBuilder(shape, "nchw")
    last = op.stridescope_ir(builder, builder.input, "op")  # type: ignore[operator]
    graph = builder.build()
    return graph.nodes[last].output_shape, graph.params


@pytest.mark.parametrize(("name", "options"), VARIANTS, ids=lambda v: str(v))
def test_shape_rule_and_ir_agree(name: str, options: dict[str, object]) -> None:
    torch.manual_seed(0)
    op = create_op(name, 3, 5, **options)
    min_size = getattr(op, "min_size", 1)
    even_timm = options.get("padding") == "even" and options.get("filter_size") == 4
    for h, w in SIZES:
        x = torch.randn(2, 3, h, w)
        if min(h, w) < min_size:
            with pytest.raises(StridescopeError, match="needs H and W"):
                op(x)
            continue
        out = op(x)
        expected_h = h // 2 + 1 if even_timm else _ceil_half(h)
        expected_w = w // 2 + 1 if even_timm else _ceil_half(w)
        assert tuple(out.shape) == (2, 5, expected_h, expected_w), (h, w)
        ir_shape, ir_params = _ir(op, (2, 3, h, w))
        assert ir_shape == tuple(out.shape)
        assert ir_params == sum(p.numel() for p in op.parameters())


def test_even_and_uneven_blur_padding_differ_by_one_pixel_at_224() -> None:
    x = torch.zeros(1, 1, 224, 224)
    uneven = create_op("blurpool_conv1x1", 1, 1, filter_size=4, padding="uneven")
    even = create_op("blurpool_conv1x1", 1, 1, filter_size=4, padding="even")
    assert uneven(x).shape[-1] == 112
    assert even(x).shape[-1] == 113


@pytest.mark.parametrize("name", op_names())
def test_deterministic_backward_and_to(name: str) -> None:
    torch.manual_seed(3)
    a = create_op(name, 4, 6)
    torch.manual_seed(3)
    b = create_op(name, 4, 6).to("cpu")
    x = torch.randn(2, 4, 10, 11, requires_grad=True)
    assert torch.equal(a(x), b(x))
    a(x).square().sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert all(p.grad is not None for p in a.parameters())


def test_registration_order_is_the_table_order() -> None:
    assert op_names() == (
        "conv1x1_s2",
        "conv3x3_s2",
        "maxpool_conv1x1",
        "avgpool_conv1x1",
        "blurpool_conv1x1",
        "s2d_conv1x1",
        "aps_conv1x1",
        "dwsep_s2",
    )


def test_unknown_name_lists_all_names() -> None:
    with pytest.raises(UnknownNameError) as info:
        create_op("conv9", 3, 16)
    for name in op_names():
        assert name in str(info.value)


def test_options_are_checked() -> None:
    assert op_options("blurpool_conv1x1") == ("filter_size", "padding")
    with pytest.raises(StridescopeError, match="allowed: filter_size, padding"):
        create_op("blurpool_conv1x1", 3, 16, size=3)
    with pytest.raises(StridescopeError, match="takes no options"):
        create_op("conv1x1_s2", 3, 16, filter_size=3)
    with pytest.raises(StridescopeError, match="filter_size must be one of 3, 4, 5"):
        create_op("blurpool_conv1x1", 3, 16, filter_size=7)
    with pytest.raises(StridescopeError, match="padding must be one of uneven, even"):
        create_op("blurpool_conv1x1", 3, 16, padding="same")
    with pytest.raises(StridescopeError, match="out_channels must be a positive integer"):
        create_op("dwsep_s2", 3, 0)


def test_wrong_channel_count_is_one_line_error() -> None:
    op = create_op("conv1x1_s2", 3, 16)
    with pytest.raises(StridescopeError, match=r"expects input \(N, 3, H, W\); received"):
        op(torch.zeros(1, 4, 8, 8))


@settings(max_examples=30)
@given(
    name=st.sampled_from(op_names()),
    cin=st.integers(1, 9),
    cout=st.integers(1, 9),
    h=st.integers(3, 40),
    w=st.integers(3, 40),
)
def test_random_sizes_and_channels_ir_matches_forward(
    name: str, cin: int, cout: int, h: int, w: int
) -> None:
    op = create_op(name, cin, cout)
    out = op(torch.zeros(1, cin, h, w))
    assert tuple(out.shape) == (1, cout, _ceil_half(h), _ceil_half(w))
    ir_shape, ir_params = _ir(op, (1, cin, h, w))
    assert ir_shape == tuple(out.shape)
    assert ir_params == sum(p.numel() for p in op.parameters())
