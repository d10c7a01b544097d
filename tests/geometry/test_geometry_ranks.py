"""1-D and 3-D output sizes against PyTorch and Keras 3 themselves, on random configurations.

Each Hypothesis example draws one layer (kind, kernel, stride, dilation, padding, ceil mode or
output padding; per axis in 3-D) and checks it on many input sizes at once: every length 1-30
in 1-D (350 examples x 30 = 10,500 configurations per test), a 3 x 3 x 3 grid of drawn sizes
1-10 per axis in 3-D (380 x 27 = 10,260). Our side goes
through the layer expression (``nn.Conv3d(...)``, ``Conv1D(..., padding='causal')``: the table
row, its translation, the shared call, the builder and geometry); the reference side is torch's
functional op on a tiny CPU tensor, or an unbuilt Keras layer's ``compute_output_shape`` (one
layer per example, ten input shapes). Where the framework refuses a configuration (empty
output, padding above half the kernel, output padding too large, strides with dilation in
Keras) the expression must refuse it too.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from stridescope.errors import StridescopeError
from stridescope.frontends import add_layer, default_layout, parse_layer
from stridescope.frontends.expr.parse import LayerCall
from stridescope.ir import GraphBuilder

os.environ.setdefault("KERAS_BACKEND", "torch")
torch.set_num_threads(1)
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")

EXAMPLES = {1: 350, 3: 380}  # x 30 lengths (1-D), x 27 shapes (3-D): > 10,000 per test
Sizes = tuple[int, ...]


@dataclass(frozen=True)
class Window:
    """One layer drawn for one rank: per-axis values, ``padding`` as the framework spells it."""

    kind: str
    kernel: Sizes
    stride: Sizes
    dilation: Sizes
    padding: object
    extra: object  # ceil_mode (torch pools) or output_padding (transposed convs)


def _t(values: Sizes) -> str:
    return str(values[0]) if len(values) == 1 else str(tuple(values))


def _ours(call: LayerCall | None, shape: Sizes) -> Sizes | None:
    """Spatial output sizes through the layer expression, or ``None`` where it refuses."""
    if call is None:
        return None
    builder = GraphBuilder(shape, default_layout(call))
    try:
        out = builder.shape(add_layer(builder, builder.input, call, "x"))
    except StridescopeError:
        return None
    spatial = out[2:] if builder.layout == "nchw" else out[1:-1]
    return tuple(int(d or 0) for d in spatial)


def _parse(text: str) -> LayerCall | None:
    try:
        return parse_layer(text)
    except StridescopeError:
        return None


# -- PyTorch ---------------------------------------------------------------------------------
_TORCH_KINDS = ("conv", "conv_same", "max", "avg", "transpose")


@st.composite
def torch_windows(draw: st.DrawFn, rank: int) -> Window:
    kind = draw(st.sampled_from(_TORCH_KINDS))

    def axes(low: int, high: int) -> Sizes:
        return tuple(draw(st.integers(low, high)) for _ in range(rank))

    kernel, stride, dilation = axes(1, 6), axes(1, 4), axes(1, 3)
    padding: object = axes(0, 4)
    extra: object = False
    if kind == "conv_same":
        padding, stride = "same", (1,) * rank  # torch allows 'same' only with stride 1
    elif kind in ("max", "avg"):
        padding = tuple(draw(st.integers(0, k // 2 + 1)) for k in kernel)  # one above: refused
        extra = draw(st.booleans())
        dilation = dilation if kind == "max" else (1,) * rank
    elif kind == "transpose":
        extra = axes(0, 3)
    return Window(kind, kernel, stride, dilation, padding, extra)


def _torch_text(w: Window, rank: int) -> str:
    k, s, d = _t(w.kernel), _t(w.stride), _t(w.dilation)
    pad = repr(w.padding) if isinstance(w.padding, str) else _t(w.padding)  # type: ignore[arg-type]
    if w.kind in ("conv", "conv_same"):
        return f"nn.Conv{rank}d(1, 1, {k}, stride={s}, padding={pad}, dilation={d})"
    if w.kind == "transpose":
        op = _t(w.extra)  # type: ignore[arg-type]
        return (
            f"nn.ConvTranspose{rank}d(1, 1, {k}, stride={s}, padding={pad}, "
            f"output_padding={op}, dilation={d})"
        )
    if w.kind == "max":
        return f"nn.MaxPool{rank}d({k}, {s}, {pad}, dilation={d}, ceil_mode={w.extra})"
    return f"nn.AvgPool{rank}d({k}, {s}, {pad}, ceil_mode={w.extra})"


_F: dict[str, tuple[Callable[..., torch.Tensor], ...]] = {
    "conv": (F.conv1d, F.conv2d, F.conv3d),
    "transpose": (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d),
    "max": (F.max_pool1d, F.max_pool2d, F.max_pool3d),
    "avg": (F.avg_pool1d, F.avg_pool2d, F.avg_pool3d),
}


def _torch(w: Window, sizes: Sizes) -> Sizes | None:
    rank = len(sizes)
    x = torch.zeros(1, 1, *sizes)
    weight = torch.zeros(1, 1, *w.kernel)
    try:
        if w.kind in ("conv", "conv_same"):
            out = _F["conv"][rank - 1](
                x, weight, stride=w.stride, padding=w.padding, dilation=w.dilation
            )
        elif w.kind == "transpose":
            out = _F["transpose"][rank - 1](
                x,
                weight,
                stride=w.stride,
                padding=w.padding,
                output_padding=w.extra,
                dilation=w.dilation,
            )
        elif w.kind == "max":
            out = _F["max"][rank - 1](
                x, w.kernel, w.stride, w.padding, dilation=w.dilation, ceil_mode=w.extra
            )
        else:
            out = _F["avg"][rank - 1](x, w.kernel, w.stride, w.padding, ceil_mode=w.extra)
    except RuntimeError:
        return None
    spatial = tuple(int(d) for d in out.shape[2:])
    return spatial if all(d > 0 for d in spatial) else None


def _check_torch(w: Window, shapes: list[Sizes]) -> None:
    rank = len(w.kernel)
    text = _torch_text(w, rank)
    call = _parse(text)
    for sizes in shapes:
        assert _ours(call, (1, 1, *sizes)) == _torch(w, sizes), (text, sizes)


def _shapes(rank: int) -> st.SearchStrategy[list[Sizes]]:
    """Every length 1-30 (1-D); the grid of 3 distinct sizes 1-10 per axis (3-D)."""
    if rank == 1:
        return st.just([(n,) for n in range(1, 31)])
    side = st.lists(st.integers(1, 10), min_size=3, max_size=3, unique=True)
    grid = st.tuples(side, side, side)
    return grid.map(lambda g: [(a, b, c) for a in g[0] for b in g[1] for c in g[2]])


@settings(max_examples=EXAMPLES[1], deadline=None)
@given(torch_windows(1), _shapes(1))
def test_1d_output_sizes_match_torch(w: Window, shapes: list[Sizes]) -> None:
    """nn.Conv1d (int, 'valid' via 0, 'same'), nn.ConvTranspose1d, nn.MaxPool1d, nn.AvgPool1d."""
    _check_torch(w, shapes)


@settings(max_examples=EXAMPLES[3], deadline=None)
@given(torch_windows(3), _shapes(3))
def test_3d_output_sizes_match_torch(w: Window, shapes: list[Sizes]) -> None:
    """nn.Conv3d, nn.ConvTranspose3d, nn.MaxPool3d, nn.AvgPool3d with per-axis values."""
    _check_torch(w, shapes)


# -- Keras -----------------------------------------------------------------------------------
_KERAS_KINDS = ("conv", "max", "avg", "transpose")


@st.composite
def keras_windows(draw: st.DrawFn, rank: int) -> Window:
    kinds = (*_KERAS_KINDS, "causal") if rank == 1 else _KERAS_KINDS
    kind = draw(st.sampled_from(kinds))

    def axes(low: int, high: int) -> Sizes:
        return tuple(draw(st.integers(low, high)) for _ in range(rank))

    kernel, stride = axes(1, 6), axes(1, 4)
    dilation = axes(1, 3) if kind in ("conv", "causal", "transpose") else (1,) * rank
    padding = "causal" if kind == "causal" else draw(st.sampled_from(("valid", "same")))
    extra = draw(st.none() | st.just(axes(0, 3))) if kind == "transpose" else None
    return Window(kind, kernel, stride, dilation, padding, extra)


def _keras_layer(keras: object, w: Window, rank: int) -> object | None:
    layers = keras.layers  # type: ignore[attr-defined]
    try:
        if w.kind in ("conv", "causal"):
            return getattr(layers, f"Conv{rank}D")(
                1, w.kernel, strides=w.stride, dilation_rate=w.dilation, padding=w.padding
            )
        if w.kind == "transpose":
            return getattr(layers, f"Conv{rank}DTranspose")(
                1,
                w.kernel,
                strides=w.stride,
                dilation_rate=w.dilation,
                padding=w.padding,
                output_padding=w.extra,
            )
        cls = "MaxPooling" if w.kind == "max" else "AveragePooling"
        return getattr(layers, f"{cls}{rank}D")(w.kernel, strides=w.stride, padding=w.padding)
    except ValueError:  # strides with dilation, output padding too large: refused
        return None


def _keras_text(w: Window, rank: int) -> str:
    k, s, d = _t(w.kernel), _t(w.stride), _t(w.dilation)
    if w.kind in ("conv", "causal"):
        return f"Conv{rank}D(1, {k}, strides={s}, padding={w.padding!r}, dilation_rate={d})"
    if w.kind == "transpose":
        op = "None" if w.extra is None else _t(w.extra)  # type: ignore[arg-type]
        return (
            f"Conv{rank}DTranspose(1, {k}, strides={s}, padding={w.padding!r}, "
            f"output_padding={op}, dilation_rate={d})"
        )
    name = "MaxPooling" if w.kind == "max" else "AveragePooling"
    return f"{name}{rank}D({k}, strides={s}, padding={w.padding!r})"


def _keras_sizes(layer: object | None, sizes: Sizes) -> Sizes | None:
    if layer is None:
        return None
    try:
        shape = layer.compute_output_shape((1, *sizes, 1))  # type: ignore[attr-defined]
    except ValueError:  # "Computed output size would be zero or negative"
        return None
    spatial = tuple(int(d) for d in shape[1:-1])
    return spatial if all(d > 0 for d in spatial) else None


def _check_keras(w: Window, shapes: list[Sizes]) -> None:
    keras = pytest.importorskip("keras")
    rank = len(w.kernel)
    layer = _keras_layer(keras, w, rank)
    text = _keras_text(w, rank)
    call = _parse(text)
    for sizes in shapes:
        assert _ours(call, (1, *sizes, 1)) == _keras_sizes(layer, sizes), (text, sizes)


@settings(max_examples=EXAMPLES[1], deadline=None)
@given(keras_windows(1), _shapes(1))
def test_1d_output_sizes_match_keras(w: Window, shapes: list[Sizes]) -> None:
    """Conv1D ('valid', 'same', 'causal'), Conv1DTranspose, MaxPooling1D, AveragePooling1D."""
    _check_keras(w, shapes)


@settings(max_examples=EXAMPLES[3], deadline=None)
@given(keras_windows(3), _shapes(3))
def test_3d_output_sizes_match_keras(w: Window, shapes: list[Sizes]) -> None:
    """Conv3D, Conv3DTranspose, MaxPooling3D, AveragePooling3D with per-axis values."""
    _check_keras(w, shapes)
