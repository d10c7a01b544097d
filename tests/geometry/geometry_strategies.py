"""Hypothesis strategies for valid sliding-window configurations, one axis at a time."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import strategies as st

from stridescope.geometry import PaddingArg


@dataclass(frozen=True)
class Axis:
    """One axis of a window: input size, kernel, stride, dilation and a padding argument."""

    n: int
    kernel: int
    stride: int
    dilation: int
    padding: PaddingArg


sizes = st.integers(1, 40)
kernels = st.integers(1, 7)
strides = st.integers(1, 4)
dilations = st.integers(1, 3)


@st.composite
def conv_axes(draw: st.DrawFn, modes: tuple[str, ...] = ("valid", "same", "torch-same")) -> Axis:
    """Any convolution axis: a mode, a symmetric int, or an explicit (before, after)."""
    n, k, s, d = draw(sizes), draw(kernels), draw(strides), draw(dilations)
    kind = draw(st.sampled_from((*modes, "int", "pair")))
    padding: PaddingArg
    if kind == "int":
        padding = draw(st.integers(0, 4))
    elif kind == "pair":
        padding = (draw(st.integers(0, 4)), draw(st.integers(0, 4)))
    else:
        padding = kind
    if padding == "torch-same":
        s = 1  # PyTorch allows padding='same' only with stride 1
    return Axis(n, k, s, d, padding)


@st.composite
def torch_pool_axes(draw: st.DrawFn, dilate: bool = True) -> Axis:
    """A PyTorch pooling axis: symmetric int padding of at most kernel // 2."""
    n, k, s = draw(sizes), draw(kernels), draw(strides)
    d = draw(dilations) if dilate else 1
    return Axis(n, k, s, d, draw(st.integers(0, k // 2)))


@st.composite
def keras_axes(draw: st.DrawFn, dilate: bool = True) -> Axis:
    """A Keras axis: 'valid' or 'same'; strides > 1 and dilation > 1 are never drawn together
    (Keras refuses them)."""
    n, k = draw(sizes), draw(kernels)
    d = draw(dilations) if dilate else 1
    s = draw(strides) if d == 1 else 1
    return Axis(n, k, s, d, draw(st.sampled_from(("valid", "same"))))
