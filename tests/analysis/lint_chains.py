"""Random chains of sliding windows for the lint reference tests, built twice: as an IR graph
(what lint reads) and as a torch function with all-ones weights (what autograd checks)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from hypothesis import strategies as st

from stridescope.geometry import GeometryError, output_size
from stridescope.ir import GraphBuilder


@dataclass(frozen=True)
class Win:
    """A 2-D window, per axis (H, W): ``conv`` (a 1-channel conv) or ``avg`` (average pool,
    which reads like a conv: autograd sees every tap, unlike a max pool)."""

    kind: str
    kernel: tuple[int, int]
    stride: tuple[int, int]
    dilation: tuple[int, int]
    padding: tuple[tuple[int, int], tuple[int, int]]

    def sizes(self, spatial: tuple[int, int]) -> tuple[int, int] | None:
        """Output sizes, or ``None`` when an axis would have no output."""
        try:
            h, w = (
                output_size(n, k, s, d, p)
                for n, k, s, d, p in zip(
                    spatial, self.kernel, self.stride, self.dilation, self.padding, strict=True
                )
            )
        except GeometryError:
            return None
        assert h is not None and w is not None
        return (h, w)

    def ir(self, builder: GraphBuilder, parent: int, name: str) -> int:
        if self.kind == "avg":
            return builder.pool(
                parent,
                name,
                mode="avg",
                kernel=self.kernel,
                stride=self.stride,
                dilation=self.dilation,
                padding=list(self.padding),
            )
        return builder.conv(
            parent,
            name,
            out_channels=1,
            kernel=self.kernel,
            stride=self.stride,
            dilation=self.dilation,
            padding=list(self.padding),
        )

    def torch(self, x: torch.Tensor) -> torch.Tensor:
        (top, bottom), (left, right) = self.padding
        x = F.pad(x, (left, right, top, bottom))
        weight = torch.ones(1, 1, *self.kernel, dtype=x.dtype)
        return F.conv2d(x, weight, stride=self.stride, dilation=self.dilation)  # (N, 1, H', W')


@st.composite
def wins(draw: st.DrawFn, max_stride: int = 3, stride: tuple[int, int] | None = None) -> Win:
    """A random window; ``stride`` fixes its stride."""

    def pair(low: int, high: int) -> tuple[int, int]:
        return (draw(st.integers(low, high)), draw(st.integers(low, high)))

    pads = (pair(0, 2), pair(0, 2))
    return Win(
        draw(st.sampled_from(("conv", "avg"))),
        pair(1, 4),
        stride or pair(1, max_stride),
        pair(1, 2),
        pads,
    )


def chain_fits(chain: Sequence[Win], spatial: tuple[int, int]) -> bool:
    """Whether every window of the chain has at least one output."""
    sizes: tuple[int, int] | None = spatial
    for win in chain:
        sizes = win.sizes(sizes) if sizes else None
    return sizes is not None


def chain_graph(chain: Sequence[Win], spatial: tuple[int, int]) -> tuple[GraphBuilder, int]:
    """The chain as an IR graph on a ``(1, 1, H, W)`` input; returns the builder and last id."""
    builder = GraphBuilder((1, 1, *spatial), "nchw", source="chain")
    node = builder.input
    for index, win in enumerate(chain):
        node = win.ir(builder, node, f"w{index}")
    return builder, node


def chain_torch(chain: Sequence[Win], x: torch.Tensor) -> torch.Tensor:
    for win in chain:
        x = win.torch(x)
    return x


def autograd_read(chain: Sequence[Win], spatial: tuple[int, int]) -> torch.Tensor:
    """Which input pixels influence some output: one backward with positive inputs and
    all-ones weights (nothing cancels)."""
    x = (torch.rand(1, 1, *spatial, dtype=torch.float64) + 0.5).requires_grad_(True)
    chain_torch(chain, x).sum().backward()
    assert x.grad is not None
    return x.grad[0, 0] != 0


def index_span(chain: Sequence[Win], axis: int) -> tuple[int, int]:
    """Explicit index arithmetic: the lowest and highest input index (padding included) that
    output position 0 of the chain reads on ``axis``."""
    reached = {0}
    for win in reversed(chain):
        k, s, d = win.kernel[axis], win.stride[axis], win.dilation[axis]
        before = win.padding[axis][0]
        reached = {o * s - before + j * d for o in reached for j in range(k)}
    return min(reached), max(reached)
