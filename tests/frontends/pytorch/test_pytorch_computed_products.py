"""Products computed on parameters alone (a position table looked up by ``one_hot @ table``,
two weights multiplied, an ``einsum`` or a convolution of weights): each is a node of its own,
without parents, with its MACs and the parameters it uses, so conv/linear/matmul MACs equal
``FlopCounterMode`` / 2 and the parameters equal torch's count; repeated blocks copy them."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from stridescope.frontends.pytorch import block_copies
from stridescope.frontends.pytorch.trace import trace_torch
from stridescope.ir import Graph, OpKind

torch.set_num_threads(1)
PRODUCTS = (OpKind.CONV, OpKind.LINEAR, OpKind.MATMUL, OpKind.CONV_TRANSPOSE)


class OneHotTable(nn.Module):
    """Tokens plus a position embedding looked up by a one-hot matmul against a table."""

    def __init__(self, dim: int = 8, positions: int = 20) -> None:
        super().__init__()
        self.positions = positions
        self.proj = nn.Conv2d(3, dim, 4, stride=4)
        self.table = nn.Parameter(torch.randn(positions, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.proj(x).flatten(2).transpose(1, 2)
        ids = torch.arange(tokens.shape[1], device=x.device)
        return tokens + F.one_hot(ids, self.positions).to(self.table) @ self.table


class MergedWeight(nn.Module):
    """A dense layer whose weight is its base plus a low-rank product of two weights."""

    def __init__(self, dim: int = 8, rank: int = 2) -> None:
        super().__init__()
        self.base = nn.Parameter(torch.randn(dim, dim))
        self.down = nn.Parameter(torch.randn(rank, dim))
        self.up = nn.Parameter(torch.randn(dim, rank))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.base + self.up @ self.down)


class WeightEinsum(nn.Module):
    """Mixing weights made by an einsum of two parameters, then applied to the tokens."""

    def __init__(self, dim: int = 8) -> None:
        super().__init__()
        self.a = nn.Parameter(torch.randn(2, dim, 4))
        self.b = nn.Parameter(torch.randn(2, 4, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mix = torch.einsum("h i r, h r j -> i j", self.a, self.b)
        return x @ mix


class SmoothedKernel(nn.Module):
    """A depthwise kernel smoothed by a convolution of two weights before it is used."""

    def __init__(self, channels: int = 3) -> None:
        super().__init__()
        self.kernel = nn.Parameter(torch.randn(channels, 1, 5, 5))
        self.smooth = nn.Parameter(torch.ones(1, 1, 3, 3) / 9)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = F.conv2d(self.kernel, self.smooth, padding=1)
        return F.conv2d(x, k, padding=2, groups=x.shape[1])


MODELS: list[tuple[str, Any, tuple[int, ...]]] = [
    ("one_hot_table", OneHotTable, (1, 3, 16, 16)),
    ("merged_weight", MergedWeight, (2, 5, 8)),
    ("weight_einsum", WeightEinsum, (2, 5, 8)),
    ("smoothed_kernel", SmoothedKernel, (1, 3, 12, 12)),
]


def flop_macs(model: nn.Module, shape: tuple[int, ...]) -> int:
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.randn(shape))
    return int(counter.get_total_flops()) // 2


def product_macs(graph: Graph) -> int:
    return sum(n.macs for n in graph.nodes if n.kind in PRODUCTS)


@pytest.mark.parametrize(("label", "make", "shape"), MODELS, ids=[m[0] for m in MODELS])
def test_products_on_parameters_count_as_flop_counter_counts(
    label: str, make: Any, shape: tuple[int, ...]
) -> None:
    model = make().eval()
    graph = trace_torch(model, shape)
    assert product_macs(graph) == flop_macs(model, shape), label
    assert graph.params == sum(p.numel() for p in model.parameters()), label
    assert not graph.uncounted and not graph.notes, label
    computed = [n for n in graph.nodes if n.kind is OpKind.MATMUL and not n.parents]
    assert len(computed) == 1 and computed[0].spatial_at == (), label
    assert trace_torch(model, shape).nodes == graph.nodes  # the same on every trace


def test_the_table_is_counted_at_its_product_and_the_tokens_keep_their_field() -> None:
    graph = trace_torch(OneHotTable(), (1, 3, 16, 16))
    node = next(n for n in graph.nodes if n.kind is OpKind.MATMUL)
    assert (node.name, node.output_shape, node.params, node.macs) == ("matmul", (16, 8), 160, 2560)
    add = graph.nodes[-1]
    assert add.kind is OpKind.ADD and add.params == 0 and node.id not in add.parents


class Stage(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.mix = MergedWeight()
        self.norm = nn.LayerNorm(8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.norm(self.mix(x))


def test_repeated_blocks_with_products_on_parameters_copy_to_the_traced_graph(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    net = nn.Sequential(*[Stage() for _ in range(4)])
    monkeypatch.setattr(block_copies, "_WORTH", float("inf"))
    monkeypatch.setattr(block_copies, "_COSTS", {})
    monkeypatch.setattr(block_copies, "_TRACES", {})
    copied = trace_torch(net, (2, 5, 8))
    monkeypatch.setattr(block_copies, "ON", False)
    plain = trace_torch(net, (2, 5, 8))
    assert copied.nodes == plain.nodes
    assert [n.name for n in plain.nodes if not n.parents][1:] == [
        f"{i}.mix.matmul" for i in range(4)
    ]
    assert product_macs(plain) == flop_macs(net, (2, 5, 8))
