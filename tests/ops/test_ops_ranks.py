"""The zoo on signals (N, C, L) and volumes (N, C, D, H, W): each operator halves every
spatial axis (rounding up), its IR agrees with its forward, and the 1-D forms equal the plain
PyTorch expressions they stand for (the 2-D forms: test_ops_equivalences.py)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from stridescope.analysis.compare import op_graph
from stridescope.errors import StridescopeError
from stridescope.ops import create_op, op_names
from stridescope.ops.blurpool import Blur
from stridescope.ops.polyphase import polyphase_select

torch.set_num_threads(1)


def _conv(op: torch.nn.Module) -> torch.nn.Conv1d:
    conv = op.conv  # type: ignore[union-attr]
    assert isinstance(conv, torch.nn.Conv1d)
    return conv


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(op_names()),
    st.sampled_from((1, 3)),
    st.integers(3, 9),
    st.integers(1, 4),
    st.integers(1, 5),
)
def test_every_operator_halves_every_axis_and_its_ir_agrees(
    name: str, rank: int, size: int, cin: int, cout: int
) -> None:
    op = create_op(name, cin, cout, rank=rank).eval()
    x = torch.randn(2, cin, *(size,) * rank)
    with torch.no_grad():
        y = op(x)
    assert tuple(y.shape) == (2, cout, *(-(-size // 2),) * rank), name
    assert op_graph(op, tuple(x.shape), name).output.output_shape == tuple(y.shape)


@pytest.mark.parametrize("length", [8, 9])
def test_1d_forms_equal_their_definitions(length: int) -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 3, length)
    ops = {name: create_op(name, 3, 8, rank=1).eval() for name in op_names()}
    one_tap = _conv(ops["conv1x1_s2"])
    torch.testing.assert_close(
        ops["conv1x1_s2"](x), F.conv1d(x[:, :, ::2], one_tap.weight, one_tap.bias)
    )
    for mode, pool in (("max", F.max_pool1d), ("avg", F.avg_pool1d)):
        conv = _conv(ops[f"{mode}pool_conv1x1"])
        extra = {} if mode == "max" else {"count_include_pad": False}
        pooled = pool(x, 2, 2, ceil_mode=True, **extra)
        torch.testing.assert_close(
            ops[f"{mode}pool_conv1x1"](x), F.conv1d(pooled, conv.weight, conv.bias)
        )
    fold = _conv(ops["s2d_conv1x1"])  # (C, L) -> (2C, L/2), channel c * 2 + i, then 1-tap
    padded = F.pad(x, (0, length % 2))
    folded = padded.view(2, 3, -1, 2).permute(0, 1, 3, 2).reshape(2, 6, -1)
    torch.testing.assert_close(ops["s2d_conv1x1"](x), F.conv1d(folded, fold.weight, fold.bias))
    blur = _conv(ops["blurpool_conv1x1"])
    blurred = Blur(3, size=3, stride=2, rank=1)(x)  # [1, 2, 1] / 4, reflect, 'uneven'
    torch.testing.assert_close(
        ops["blurpool_conv1x1"](x), F.conv1d(blurred, blur.weight, blur.bias)
    )


def test_1d_polyphase_keeps_the_louder_phase_and_ignores_circular_shifts() -> None:
    x = torch.zeros(2, 1, 8)
    x[0, 0, 3], x[1, 0, 4] = 5.0, 2.0  # odd phase louder in item 0, even in item 1
    torch.testing.assert_close(polyphase_select(x), torch.stack([x[0, :, 1::2], x[1, :, 0::2]]))
    op = create_op("aps_conv1x1", 2, 4, rank=1).eval()
    signal = torch.randn(3, 2, 16)
    with torch.no_grad():
        base, shifted = op(signal), op(torch.roll(signal, 1, dims=2))
    for item in range(3):  # each item keeps its own phase: the output moves by 0 or 1
        moved = [torch.roll(base[item], s, dims=1) for s in (0, 1)]
        assert any(torch.allclose(shifted[item], m, atol=1e-6) for m in moved), item


def test_a_wrong_rank_or_input_is_a_one_line_error() -> None:
    with pytest.raises(StridescopeError, match=r"rank must be 1 \(signals\), 2 \(images\) or 3"):
        create_op("conv1x1_s2", 3, 4, rank=4)
    op = create_op("conv1x1_s2", 3, 4, rank=1)
    with pytest.raises(
        StridescopeError, match=r"expects input \(N, 3, L\); received \(1, 3, 8, 8\)"
    ):
        op(torch.zeros(1, 3, 8, 8))
    with pytest.raises(StridescopeError, match=r"needs L >= 2"):
        create_op("blurpool_conv1x1", 3, 4, rank=1)(torch.zeros(1, 3, 1))
