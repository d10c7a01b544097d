"""BlurPool: a fixed binomial low-pass filter applied with stride 2, then a 1x1 conv.

Padding conventions for a filter of size k (reflect padding, per axis ``(before, after)``):

- ``"uneven"`` (antialiased-cnns, Zhang 2019): ``((k - 1) // 2, k // 2)``. Output
  ``floor((H - 1) / 2) + 1 = ceil(H / 2)`` for every k: the operator's rule.
- ``"even"`` (timm's ``BlurPool2d``): ``(k // 2, k // 2)``. The same for odd k; for even k
  and even H it gives ``H / 2 + 1`` (113 instead of 112 at 224 px for k = 4).

Reflect padding needs ``H, W > max(before, after)``; smaller inputs raise an error.
The blur is a depthwise k x k conv with stride 2 and fixed weights (a buffer: 0 params). It
runs as one ``F.conv2d(groups=C)``: on CPU (1 thread, fwd+bwd) that beat separable row and
column convs, strided-slice taps, cascaded 2x2 average pools, channels-last, a single-channel
conv over ``N * C`` planes, and running the 1x1 first.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from stridescope.errors import StridescopeError
from stridescope.ir import GraphBuilder
from stridescope.ops._checks import check_input, check_spatial, ir_spatial
from stridescope.ops.registry import OPS

__all__ = ["BLUR_PADDINGS", "BlurPoolConv", "binomial_filter", "blur_padding", "blurpool_conv1x1"]

BLUR_PADDINGS = ("uneven", "even")
_SIZES = (3, 4, 5)


def binomial_filter(size: int) -> tuple[float, ...]:
    """The normalised 1-D binomial filter of ``size`` taps.

    >>> binomial_filter(3)
    (0.25, 0.5, 0.25)
    """
    coeffs = [math.comb(size - 1, i) for i in range(size)]
    return tuple(c / sum(coeffs) for c in coeffs)


def blur_padding(size: int, convention: str) -> tuple[int, int]:
    """Padding ``(before, after)`` of one axis for a blur filter of ``size`` taps.

    >>> blur_padding(4, "uneven"), blur_padding(4, "even"), blur_padding(3, "even")
    ((1, 2), (2, 2), (1, 1))
    """
    if convention == "uneven":
        return ((size - 1) // 2, size // 2)
    return (size // 2, size // 2)


class BlurPoolConv(nn.Module):
    """Reflect-padded binomial blur with stride 2, then a 1x1 conv.

    The two commute (both linear, the blur sums to 1 and reflect padding keeps constants), so
    when ``C_out < C_in`` the 1x1 runs first and the blur on the fewer channels: on CPU the
    depthwise conv is the slow part and its speed is erratic for wide inputs
    (bench/ops_speed.py). The IR records the order that runs.
    """

    def __init__(self, in_channels: int, out_channels: int, filter_size: int, padding: str):
        super().__init__()
        self.in_channels = in_channels
        self.filter_size = filter_size
        self.padding = padding
        self.pad = blur_padding(filter_size, padding)
        self.blur_first = out_channels >= in_channels
        channels = in_channels if self.blur_first else out_channels
        taps = torch.tensor(binomial_filter(filter_size))
        kernel = torch.outer(taps, taps).expand(channels, 1, filter_size, filter_size)
        self.register_buffer("kernel", kernel.contiguous(), persistent=False)
        self.conv = nn.Conv2d(in_channels, out_channels, 1)

    @property
    def min_size(self) -> int:
        """Smallest H and W that reflect padding accepts."""
        return max(self.pad) + 1

    def blur(self, x: torch.Tensor) -> torch.Tensor:
        """The strided blur alone: ``(N, C, H, W) -> (N, C, H', W')``, depthwise."""
        before, after = self.pad
        xp = F.pad(x, (before, after, before, after), mode="reflect")
        kernel: torch.Tensor = self.kernel  # type: ignore[assignment]
        return F.conv2d(xp, kernel, stride=2, groups=x.shape[1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, "blurpool_conv1x1", self.in_channels, self.min_size)
        weight, bias = self.conv.weight, self.conv.bias
        if self.blur_first:
            return F.conv2d(self.blur(x), weight, bias)  # (N, C_out, H', W')
        return self.blur(F.conv2d(x, weight, bias))

    def _blur_ir(self, builder: GraphBuilder, parent: int, name: str, channels: int) -> int:
        return builder.conv(
            parent,
            f"{name}.blur",
            out_channels=channels,
            kernel=self.filter_size,
            stride=2,
            padding=[self.pad, self.pad],
            groups=channels,
            bias=False,
            params=0,
            op="blurpool_conv1x1",
        )

    def stridescope_ir(self, builder: GraphBuilder, parent: int, name: str) -> int:
        spatial = ir_spatial(builder, parent, "blurpool_conv1x1")
        check_spatial(spatial, "blurpool_conv1x1", self.min_size)
        cout = self.conv.out_channels
        if self.blur_first:
            x = self._blur_ir(builder, parent, name, self.in_channels)
            return builder.conv(
                x, f"{name}.conv", out_channels=cout, kernel=1, op="blurpool_conv1x1"
            )
        x = builder.conv(parent, f"{name}.conv", out_channels=cout, kernel=1, op="blurpool_conv1x1")
        return self._blur_ir(builder, x, name, cout)


@OPS.register(
    "blurpool_conv1x1",
    doc="Binomial blur (size 3/4/5, reflect pad) with stride 2, then a 1x1 conv.",
    reference="Zhang 2019, Making Convolutional Networks Shift-Invariant Again",
)
def blurpool_conv1x1(
    in_channels: int, out_channels: int, *, filter_size: int = 3, padding: str = "uneven"
) -> nn.Module:
    if filter_size not in _SIZES:
        raise StridescopeError(
            f"blurpool filter_size must be one of {', '.join(map(str, _SIZES))}; "
            f"received {filter_size!r}"
        )
    if padding not in BLUR_PADDINGS:
        raise StridescopeError(
            f"blurpool padding must be one of {', '.join(BLUR_PADDINGS)}; received {padding!r}"
        )
    return BlurPoolConv(in_channels, out_channels, filter_size, padding)
