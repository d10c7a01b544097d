"""BlurPool: a fixed binomial low-pass filter applied with stride 2, then a 1x1 conv.

Padding conventions for a filter of size k (reflect padding, per axis ``(before, after)``):

- ``"uneven"`` (antialiased-cnns, Zhang 2019): ``((k - 1) // 2, k // 2)``. Output
  ``floor((H - 1) / 2) + 1 = ceil(H / 2)`` for every k: the operator's rule.
- ``"even"`` (timm's ``BlurPool2d``): ``(k // 2, k // 2)``. The same for odd k; for even k
  and even H it gives ``H / 2 + 1`` (113 instead of 112 at 224 px for k = 4).

Reflect padding needs ``H, W > max(before, after)``; smaller inputs raise an error.
The blur is a depthwise k x k conv with stride 2 and fixed weights (a buffer: 0 params). It
runs as one ``F.conv2d(groups=C)``: on CPU (1 thread, fwd+bwd) that beat separable row and
column convs, strided-slice taps, cascaded 2x2 average pools, channels-last and a
single-channel conv over ``N * C`` planes (bench/ops_speed.py times the alternatives).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from stridescope.errors import StridescopeError
from stridescope.ir import GraphBuilder
from stridescope.ir.blur import (
    BLUR_PADDINGS,
    BLUR_SIZES,
    binomial_filter,
    blur_ir,
    blur_padding,
    blur_sizes,
)
from stridescope.ops._checks import (
    CONV_FUNCTIONS,
    CONVS,
    check_input,
    check_rank,
    check_spatial,
    ir_spatial,
    pointwise_ir,
)
from stridescope.ops.registry import OPS

__all__ = [
    "BLUR_PADDINGS",
    "BLUR_SIZES",
    "TAP_COST",
    "Blur",
    "BlurPoolConv",
    "binomial_filter",
    "binomial_kernel",
    "blur_first",
    "blur_ir",
    "blur_padding",
    "blur_sizes",
    "blurpool_conv1x1",
]

#: Cost of one depthwise-conv tap in dense 1x1-conv MACs (CPU, fwd+bwd, 1 thread). The CPU
#: depthwise conv is bimodal (the same call runs in 1.3 or 3-4 ms for 64 channels at 32 px,
#: changing between runs and within one): about 10 in its fast mode, 25-30 in its slow one.
#: The slow mode's value keeps the order that is never far off (bench/ops_speed.py).
TAP_COST = 25


def blur_first(in_channels: int, out_channels: int, filter_size: int) -> bool:
    """Whether the blur runs before the 1x1 conv (see :class:`BlurPoolConv`).

    >>> blur_first(32, 64, 5), blur_first(64, 32, 3), blur_first(48, 32, 3), blur_first(48, 32, 5)
    (True, False, True, False)
    """
    blur_saved = TAP_COST * filter_size**2 * (in_channels - out_channels)
    return blur_saved <= 3 * in_channels * out_channels


def binomial_kernel(size: int | Sequence[int], rank: int) -> torch.Tensor:
    """The ``rank``-D binomial filter: the outer product of :func:`binomial_filter` over the
    axes (``size`` taps on each, or one size per axis), summing to 1.

    >>> binomial_kernel(3, 2).tolist()
    [[0.0625, 0.125, 0.0625], [0.125, 0.25, 0.125], [0.0625, 0.125, 0.0625]]
    >>> binomial_kernel((3, 1), 2).tolist()
    [[0.25], [0.5], [0.25]]
    """
    sizes = blur_sizes(size, rank)
    kernel = torch.tensor(binomial_filter(sizes[0]), dtype=torch.float64)
    for k in sizes[1:]:
        kernel = kernel.unsqueeze(-1) * torch.tensor(binomial_filter(k), dtype=torch.float64)
    return kernel.to(torch.float32)


class Blur(nn.Module):
    """A fixed binomial blur at a stride, on its own: ``(N, C, *spatial)`` with 1, 2 or 3
    spatial axes, depthwise, ``size`` taps per axis (or one size per axis: 1 leaves an axis
    alone), reflect padding ``(before, after)`` per axis (default: the ``"uneven"``
    convention, which keeps ``floor((n - 1) / stride) + 1`` outputs, the count of a 1-tap
    window at that stride). The filter is a buffer: 0 parameters, not saved in the
    ``state_dict``.

    >>> blur = Blur(4, size=3, stride=2)
    >>> tuple(blur(torch.ones(1, 4, 7, 8)).shape), blur(torch.ones(1, 4, 7, 8)).unique().tolist()
    ((1, 4, 4, 4), [1.0])
    """

    def __init__(
        self,
        channels: int,
        size: int | Sequence[int] = 3,
        stride: int | Sequence[int] = 2,
        rank: int = 2,
        padding: Sequence[tuple[int, int]] | None = None,
    ) -> None:
        super().__init__()
        self.channels, self.size, self.rank = channels, blur_sizes(size, rank), rank
        self.stride = (stride,) * rank if isinstance(stride, int) else tuple(stride)
        pads = padding if padding is not None else [blur_padding(k, "uneven") for k in self.size]
        self.padding = tuple((int(p[0]), int(p[1])) for p in pads)
        kernel = binomial_kernel(self.size, rank).expand(channels, 1, *self.size)
        self.register_buffer("kernel", kernel.contiguous(), persistent=False)

    def extra_repr(self) -> str:
        return f"{self.channels}, size={self.size}, stride={self.stride}, padding={self.padding}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = [p for pair in reversed(self.padding) for p in pair]  # F.pad: last axis first
        xp = F.pad(x, flat, mode="reflect")  # (N, C, *padded)
        kernel: torch.Tensor = self.kernel  # type: ignore[assignment]
        conv = CONV_FUNCTIONS[self.rank]
        return conv(xp, kernel.to(x.dtype), stride=self.stride, groups=self.channels)

    def stridescope_ir(self, builder: GraphBuilder, parent: int, name: str) -> int:
        return blur_ir(
            builder, parent, name, size=self.size, stride=self.stride, padding=self.padding
        )


class BlurPoolConv(nn.Module):
    """Reflect-padded binomial blur with stride 2, then a 1x1 conv, on ``rank`` spatial axes
    (on a signal, the 1-D binomial filter).

    The two commute (both linear, the blur sums to 1 and reflect padding keeps constants), so
    the order is free. Per output pixel, blur first costs ``C_in k^2`` depthwise taps and
    ``C_in C_out`` 1x1 MACs; the 1x1 first costs ``4 C_in C_out`` MACs (at full resolution)
    and ``C_out k^2`` taps. A depthwise tap costs about :data:`TAP_COST` dense MACs on CPU
    (fwd+bwd, 1 thread), so the 1x1 runs first when that is cheaper, which needs ``C_out <
    C_in`` (64 -> 32 channels: 1x1 first; 48 -> 32 with k = 3: blur first). The IR describes
    the operator as defined (blur, then 1x1) whichever order runs.

    >>> BlurPoolConv(64, 32, 3, "uneven").blur_first, BlurPoolConv(48, 32, 3, "even").blur_first
    (False, True)
    """

    def __init__(
        self, in_channels: int, out_channels: int, filter_size: int, padding: str, rank: int = 2
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.filter_size = filter_size
        self.padding = padding
        self.rank = check_rank(rank)
        self.pad = blur_padding(filter_size, padding)
        self.blur_first = blur_first(in_channels, out_channels, filter_size)
        channels = in_channels if self.blur_first else out_channels
        taps = binomial_kernel(filter_size, self.rank)
        kernel = taps.expand(channels, 1, *(filter_size,) * self.rank)
        self.register_buffer("kernel", kernel.contiguous(), persistent=False)
        self.conv = CONVS[self.rank](in_channels, out_channels, 1)

    @property
    def min_size(self) -> int:
        """Smallest H and W that reflect padding accepts."""
        return max(self.pad) + 1

    def blur(self, x: torch.Tensor) -> torch.Tensor:
        """The strided blur alone: ``(N, C, H, W) -> (N, C, H', W')``, depthwise."""
        xp = F.pad(x, self.pad * self.rank, mode="reflect")
        kernel: torch.Tensor = self.kernel  # type: ignore[assignment]
        return CONV_FUNCTIONS[self.rank](xp, kernel, stride=2, groups=x.shape[1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, "blurpool_conv1x1", self.in_channels, self.min_size, self.rank)
        weight, bias, conv = self.conv.weight, self.conv.bias, CONV_FUNCTIONS[self.rank]
        if self.blur_first:
            return conv(self.blur(x), weight, bias)  # (N, C_out, H', W')
        return self.blur(conv(x, weight, bias))

    def stridescope_ir(self, builder: GraphBuilder, parent: int, name: str) -> int:
        # the operator as defined, blur then 1x1, whichever order runs (like the other
        # operators, whose IR is the definition, not the equal kernel that runs)
        spatial = ir_spatial(builder, parent, "blurpool_conv1x1", self.rank)
        check_spatial(spatial, "blurpool_conv1x1", self.min_size)
        x = builder.conv(
            parent,
            f"{name}.blur",
            out_channels=self.in_channels,
            kernel=self.filter_size,
            stride=2,
            padding=[self.pad] * self.rank,
            groups=self.in_channels,
            bias=False,
            params=0,
            op="blurpool_conv1x1",
        )
        return pointwise_ir(builder, x, name, self.conv.out_channels, "blurpool_conv1x1")


@OPS.register(
    "blurpool_conv1x1",
    doc="Binomial blur (size 3/4/5, reflect pad) with stride 2, then a 1x1 conv.",
    reference="Zhang 2019, Making Convolutional Networks Shift-Invariant Again",
)
def blurpool_conv1x1(
    in_channels: int,
    out_channels: int,
    rank: int = 2,
    *,
    filter_size: int = 3,
    padding: str = "uneven",
) -> nn.Module:
    if filter_size not in BLUR_SIZES:
        raise StridescopeError(
            f"blurpool filter_size must be one of {', '.join(map(str, BLUR_SIZES))}; "
            f"received {filter_size!r}"
        )
    if padding not in BLUR_PADDINGS:
        raise StridescopeError(
            f"blurpool padding must be one of {', '.join(BLUR_PADDINGS)}; received {padding!r}"
        )
    return BlurPoolConv(in_channels, out_channels, filter_size, padding, rank)
