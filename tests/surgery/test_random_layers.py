"""Property test: on random strided convs and max pools (1-D and 2-D, any kernel, stride,
padding, dilation, size), every policy either leaves the layer with a reason or swaps it so
that the real output shape stays and the reported cost equals the summaries' difference."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import stridescope
from stridescope.surgery import fix, policy_names


@st.composite
def strided_layers(draw: st.DrawFn) -> tuple[nn.Module, tuple[int, ...]]:
    rank = draw(st.integers(1, 2))
    kernel = tuple(draw(st.integers(1, 4)) for _ in range(rank))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(rank))
    if all(s == 1 for s in stride):
        stride = (2, *stride[1:])
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(rank))
    padding = tuple(
        draw(st.integers(0, (k - 1) * d // 2)) for k, d in zip(kernel, dilation, strict=True)
    )
    size = tuple(
        draw(st.integers((k - 1) * d + 1 + 1, 13)) for k, d in zip(kernel, dilation, strict=True)
    )
    if draw(st.booleans()):
        convs = (nn.Conv1d, nn.Conv2d)
        groups = draw(st.sampled_from((1, 2)))
        module: nn.Module = convs[rank - 1](
            4, 6, kernel, stride, padding, dilation, groups, bias=draw(st.booleans())
        )
    else:
        pools = (nn.MaxPool1d, nn.MaxPool2d)
        padding = tuple(min(p, k // 2) for p, k in zip(padding, kernel, strict=True))
        module = pools[rank - 1](kernel, stride, padding, dilation)
    return module, (1, 4, *size)


@settings(max_examples=60)
@given(layer=strided_layers(), policy=st.sampled_from(policy_names()))
def test_a_swap_keeps_the_output_shape_and_its_cost_adds_up(
    layer: tuple[nn.Module, tuple[int, ...]], policy: str
) -> None:
    module, shape = layer
    model = nn.Sequential(module)
    fixed = fix(model, policy, input_shape=shape)
    assert len(fixed.changes) + len(fixed.unchanged) == 1
    if fixed.unchanged:
        assert fixed.unchanged[0].reason
        return
    x = torch.randn(2, *shape[1:])
    assert fixed.model(x).shape == model(x).shape
    before, after = stridescope.summary(model, shape), stridescope.summary(fixed.model, shape)
    assert fixed.delta_params == after.totals.params - before.totals.params
    assert fixed.delta_macs == after.totals.macs - before.totals.macs
