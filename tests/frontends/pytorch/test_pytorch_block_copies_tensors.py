"""Repeated blocks given real tensors (a rotary embedding made from a buffer, a mask every
block is given) are copied only for the very same tensor, unchanged since; blocks given lists
(HRNet's branches, a ``[H, W]`` size) or a ``torch.Size`` are copied unless they change the
list or return it. The graph equals the one traced block by block in every case."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tests.frontends.pytorch.copying import same_graph


class Rotary(nn.Module):
    """A block given a table every block shares (a rotary embedding made in the model's
    forward from a buffer, a mask): it multiplies the tokens by it, and branches on its
    values (the branch a real table's values choose)."""

    def __init__(self, dim: int = 8) -> None:
        super().__init__()
        self.fc = nn.Linear(dim, dim)
        self.fc2 = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        x = self.fc(x) * table.cos() + x * table.sin()
        if bool((table > 1).any()):  # a table of other values takes the other branch
            x = self.fc2(x)
        return F.gelu(x)


class RotaryNet(nn.Module):
    """Blocks given one table (``shared``), or a table written in place between blocks, or
    a new table per block with other values."""

    def __init__(self, how: str) -> None:
        super().__init__()
        self.how = how
        self.register_buffer("freq", torch.linspace(0.0, 0.25, 8))
        self.blocks = nn.ModuleList([Rotary() for _ in range(4)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        table = torch.arange(x.shape[1]).float()[:, None] * self.freq
        for i, block in enumerate(self.blocks):
            if self.how == "new":  # values past 1 from the second block on
                table = table * 3.0 if i else table.clone()
            x = block(x, table)
            if self.how == "written":
                table.mul_(3.0)  # past 1 from the second block on
        return x


@pytest.mark.parametrize(("how", "copied"), [("shared", 3), ("written", 0), ("new", 0)])
def test_blocks_given_the_same_real_tensor_are_copied(
    copies: list[str], how: str, copied: int
) -> None:
    net = RotaryNet(how)
    g = same_graph(net, (1, 3, 8))
    assert len(copies) == copied
    # the branch each block took: the table's values decide it, copied or traced
    fc2 = [n.name for n in g.nodes if n.name.endswith("fc2")]
    assert fc2 == ([] if how == "shared" else ["blocks.1.fc2", "blocks.2.fc2", "blocks.3.fc2"])
    assert g.params == sum(p.numel() for b in net.blocks for p in b.fc.parameters()) + (
        0 if how == "shared" else 3 * 72
    )


class Branches(nn.Module):
    """A block on a list of maps (HRNet's modules), told the grid's size as a list or a
    ``torch.Size``; ``how`` says whether it leaves the list alone, appends to it, or
    returns it (a copy would return a new list: the caller's writes into it would differ)."""

    def __init__(self, how: str) -> None:
        super().__init__()
        self.how = how
        self.convs = nn.ModuleList([nn.Conv2d(4, 4, 3, padding=1) for _ in range(2)])

    def forward(self, xs: list[torch.Tensor], size: Any) -> Any:
        ys = [conv(x).relu() for conv, x in zip(self.convs, xs, strict=True)]
        if self.how == "appends":
            xs.append(ys[0])
        if self.how == "returns":
            return xs
        return [y.reshape(1, 4, *size) for y in ys]


class BranchNet(nn.Module):
    def __init__(self, how: str, size: str) -> None:
        super().__init__()
        self.size = size
        self.blocks = nn.ModuleList([Branches(how) for _ in range(4)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xs = [x, x * 2]
        for block in self.blocks:
            size = list(x.shape[2:]) if self.size == "list" else x.shape[2:]
            out = block(xs, size)
            xs = list(out[:2])  # (a list the block appended to holds more)
        return xs[0] + xs[1]


@pytest.mark.parametrize(
    ("how", "size", "copied"),
    [("keeps", "list", 2), ("keeps", "Size", 2), ("appends", "list", 0), ("returns", "list", 0)],
)
def test_blocks_given_lists_are_copied_unless_they_change_or_return_them(
    copies: list[str], how: str, size: str, copied: int
) -> None:
    net = BranchNet(how, size)
    g = same_graph(net, (1, 4, 6, 6))
    # (the first block's maps are the input and a product, later ones its reshapes: the
    # second block is recorded too, and the third and fourth are copies of it)
    assert copies == ["blocks.2", "blocks.3"][:copied]
    assert g.params == sum(p.numel() for p in net.parameters())


class StandardizedConv(nn.Conv2d):
    """A layer without children whose forward computes its weight (weight standardization,
    as NFNets and BiT do): one node, five computations on its parameters."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(cin, cout, 3, padding=1)
        self.gain = nn.Parameter(torch.ones(cout, 1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight.reshape(1, self.out_channels, -1)
        w = F.batch_norm(w, None, None, (self.gain * 0.5).view(-1), training=True, eps=1e-5)
        return F.conv2d(x, w.reshape_as(self.weight), self.bias, padding=1)


def test_repeated_layers_that_compute_their_weights_are_copied(copies: list[str]) -> None:
    net = nn.Sequential(*[StandardizedConv(4 + i % 2, 4 + (i + 1) % 2) for i in range(6)])
    g = same_graph(net, (1, 4, 8, 8))
    assert copies == ["2", "3", "4", "5"]  # (two kinds: 4 to 5 channels, and back)
    assert g.params == sum(p.numel() for p in net.parameters())
    assert [n.macs for n in g.nodes[1:3]] == [5 * 4 * 9 * 64, 4 * 5 * 9 * 64]
