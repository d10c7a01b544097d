"""Repeated blocks are traced once and copied: every copied graph equals the graph traced
block by block (node for node: names, parents, shapes, parameters, MACs), on the patterns
where a copy could go wrong — parameters used outside module calls, tied weights, caches a
forward fills, buffers a forward branches on, forwards that change their module, a module
called twice, in-place writes into an argument, several results."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from stridescope.frontends.pytorch import block_copies
from stridescope.frontends.pytorch.trace import trace_torch
from tests.frontends.pytorch.copying import same_graph, traced


def unique_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


class Encoder(nn.Module):
    """Attention on tokens with torch functions, a layer-scale weight used outside any
    layer call, and a residual."""

    def __init__(self, dim: int = 16, heads: int = 2) -> None:
        super().__init__()
        self.heads = heads
        self.norm = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.gamma = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        qkv = self.qkv(self.norm(x)).reshape(b, n, 3, self.heads, c // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        attn = (q @ k.transpose(-2, -1) * 0.5).softmax(dim=-1)
        out = (attn @ v).transpose(1, 2).reshape(b, n, c)
        return x + self.proj(out) * self.gamma


def test_equal_blocks_are_copied_and_the_graph_is_the_traced_one(copies: list[str]) -> None:
    net = nn.Sequential(*[Encoder() for _ in range(4)])
    g = same_graph(net, (2, 8, 16))
    assert copies.count("1") + copies.count("2") + copies.count("3") == 3
    assert g.params == unique_params(net)
    assert [n.name for n in g.nodes if n.name.startswith("3.")][:2] == ["3.norm", "3.qkv"]


class Shifted(nn.Module):
    def __init__(self, shift: int) -> None:
        super().__init__()
        self.shift = shift
        self.fc = nn.Linear(8, 8)
        self.fc2 = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.shift:
            x = torch.roll(x, shifts=self.shift, dims=1)
        return x + self.fc2(F.gelu(self.fc(x)))


def test_alternating_blocks_each_copy_their_own_kind(copies: list[str]) -> None:
    net = nn.Sequential(*[Shifted(i % 2) for i in range(6)])
    same_graph(net, (1, 5, 8))
    assert sorted(copies) == ["2", "3", "4", "5"]


def test_a_weight_tied_across_blocks_is_counted_once(copies: list[str]) -> None:
    net = nn.Sequential(*[Encoder() for _ in range(3)])
    net[1].qkv.weight = net[0].qkv.weight
    g = same_graph(net, (1, 4, 16))
    assert g.params == unique_params(net)
    assert "1" not in copies  # its weight was counted in block 0


class Cached(nn.Module):
    """A bias gathered from a table by an index buffer, cached per device as LeViT does."""

    def __init__(self) -> None:
        super().__init__()
        self.table = nn.Parameter(torch.randn(2, 9))
        self.register_buffer("index", torch.randint(0, 9, (4, 4)))
        self.cache: dict[str, torch.Tensor] = {}
        self.fc = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        key = str(x.device)
        if key not in self.cache:
            self.cache[key] = self.table[:, self.index]
        return self.fc(x).softmax(-1) + self.cache[key] + x.sigmoid()


def test_a_cache_the_forward_fills_does_not_stop_copies_or_stay_on_meta(
    copies: list[str],
) -> None:
    net = nn.Sequential(*[Cached() for _ in range(3)]).eval()
    for block in net[1:]:
        block.index = net[0].index.clone()  # equal index buffers: equal blocks
    g = same_graph(net, (1, 2, 4, 4))
    assert g.params == unique_params(net)
    assert copies
    assert all(t.device.type != "meta" for b in net for t in b.cache.values())


class Flagged(nn.Module):
    """A forward that branches on an integer buffer's value."""

    def __init__(self, flag: int) -> None:
        super().__init__()
        self.register_buffer("flag", torch.tensor(flag))
        self.register_buffer("scale", torch.rand(1))  # a float buffer: values never compared
        self.fc = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.fc(x)
        x = x.relu()
        if int(self.flag):
            x = x.sigmoid().tanh()
        return x * 2 + 1


def test_blocks_branching_on_an_integer_buffer_differ(copies: list[str]) -> None:
    net = nn.Sequential(*[Flagged(f) for f in (1, 0, 1, 0, 0)])
    g = same_graph(net, (1, 3, 4))
    assert sorted(copies) == ["2", "3", "4"]
    assert sum(n.op == "tanh" for n in g.nodes) == 2


class Counting(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0
        self.fc = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.fc(x).relu().sigmoid() + x


def test_a_forward_that_changes_its_module_runs_for_every_block(copies: list[str]) -> None:
    net = nn.Sequential(*[Counting() for _ in range(3)])
    trace_torch(net, (1, 4))
    assert [b.calls for b in net] == [1, 1, 1]
    assert not copies


class Twice(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.block = Encoder()
        self.other = Encoder()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.other(self.block(self.block(x)))


def test_a_block_called_twice_keeps_its_names(copies: list[str]) -> None:
    g = same_graph(Twice(), (1, 4, 16))
    assert "block.qkv_1" in {n.name for n in g.nodes}


class InPlace(nn.Module):
    """Writes into its argument and returns a tuple holding it and a dict."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> Any:
        x.add_(self.fc(y).relu().sigmoid())
        return x, {"out": x * 2, "y": y, "size": 4}


class Chain(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.ModuleList([InPlace() for _ in range(3)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x.clone()
        for block in self.blocks:
            x, extra = block(x, y)
            y = extra["out"] + extra["y"] * extra["size"]
        return x + y


def test_in_place_writes_and_results_are_copied(copies: list[str]) -> None:
    same_graph(Chain(), (1, 4))
    assert "blocks.2" in copies  # blocks.1 gets y from a clone's node, not the input's: traced


def test_forward_hooks_of_a_copied_block_run_around_the_copy(copies: list[str]) -> None:
    net = nn.Sequential(*[Encoder() for _ in range(3)])
    seen: list[nn.Module] = []
    net[2].register_forward_hook(lambda module, *args: seen.append(module))
    same_graph(net, (1, 4, 16))
    assert copies == ["1", "2"]
    assert seen == [net[2], net[2]]  # once per trace: the copy, then block by block


def test_a_block_holding_a_module_with_forward_hooks_is_traced(copies: list[str]) -> None:
    net = nn.Sequential(*[Encoder() for _ in range(4)])
    net[0].proj.register_forward_hook(lambda module, args, out: out * 2.0)  # recorded block
    net[2].qkv.register_forward_pre_hook(lambda module, args: (args[0] + 1.0,))  # a later one
    g = same_graph(net, (2, 8, 16))
    assert "0" not in copies and "2" not in copies  # the others may still be copied

    def ops(block: str, op: str) -> int:
        return sum(n.name.startswith(f"{block}.") and n.op == op for n in g.nodes)

    assert [ops(b, "mul") for b in "0123"] == [3, 2, 2, 2]  # the hook's, the scale, gamma's
    assert [ops(b, "add") for b in "0123"] == [1, 1, 2, 1]  # the pre-hook's, the residual


def test_a_drop_rate_that_differs_per_block_makes_blocks_differ(copies: list[str]) -> None:
    net = nn.Sequential(*[nn.Sequential(Encoder(), nn.Dropout(p / 10)) for p in range(3)])
    same_graph(net.eval(), (1, 4, 16))
    assert sorted(copies) == ["1.0", "2.0"]  # the encoders inside still are equal


@settings(max_examples=25, deadline=None)
@given(
    kinds=st.lists(
        st.sampled_from(["enc8", "enc16", "shift0", "shift1", "flag0", "flag1"]),
        min_size=2,
        max_size=7,
    ),
    tokens=st.integers(2, 5),
)
def test_random_stacks_copy_to_the_traced_graph(kinds: list[str], tokens: int) -> None:
    with pytest.MonkeyPatch.context() as m:
        m.setattr(block_copies, "_WORTH", float("inf"))
        m.setattr(block_copies, "_COSTS", {})
        layers: list[nn.Module] = []
        width = 8
        for kind in kinds:
            if kind.startswith("enc"):
                layers += [nn.Linear(width, int(kind[3:])), Encoder(int(kind[3:]))]
                width = int(kind[3:])
            elif kind.startswith("shift"):
                layers += [nn.Linear(width, 8), Shifted(int(kind[-1]))]
                width = 8
            else:
                layers += [nn.Linear(width, 4), Flagged(int(kind[-1]))]
                width = 4
        net = nn.Sequential(*layers)
        g = same_graph(net, (1, tokens, 8))
        assert g.params == unique_params(net)


class WithIdentity(Encoder):
    """An encoder with a layer that makes no node (its name is taken all the same)."""

    def __init__(self) -> None:
        super().__init__()
        self.skip = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(self.skip(x)).relu()


class Reused(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.ModuleList([WithIdentity() for _ in range(3)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return self.blocks[2](x)  # a copied block called again: its names go on as traced


def test_a_copied_block_called_again_is_named_as_traced(copies: list[str]) -> None:
    g = same_graph(Reused(), (1, 4, 16))
    assert "blocks.2" in copies
    assert {"blocks.2.qkv", "blocks.2.qkv_1"} <= {n.name for n in g.nodes}


def test_threads_tracing_at_once_copy_to_the_same_graphs(copies: list[str]) -> None:
    from concurrent.futures import ThreadPoolExecutor

    nets = [nn.Sequential(*[Encoder(16) for _ in range(3 + i % 3)]) for i in range(6)]
    alone = [traced(net, (1, 4, 16)).nodes for net in nets]
    with ThreadPoolExecutor(6) as pool:
        together = list(pool.map(lambda net: trace_torch(net, (1, 4, 16)).nodes, nets * 3))
    assert together == alone * 3
    assert copies


class Optional(nn.Module):
    """A child registered as ``None`` in one block, absent in another."""

    def __init__(self, registered: bool) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)
        if registered:
            self.register_module("extra", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.fc(x).sigmoid().tanh()
        return x.relu() * 3 if "extra" in self._modules else x * 2


def test_a_child_none_in_one_block_only_makes_them_differ(copies: list[str]) -> None:
    net = nn.Sequential(Optional(True), Optional(False), Optional(True), Optional(False))
    same_graph(net, (1, 3, 4))
    assert sorted(copies) == ["2", "3"]


class Gated(nn.Module):
    """A forward that branches on its own parameter's value (the exact run traces it)."""

    def __init__(self, gate: float) -> None:
        super().__init__()
        self.gate = nn.Parameter(torch.tensor(gate))
        self.fc = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.fc(x).sigmoid()
        if self.gate.item() > 0:
            x = x.tanh().relu()
        return x * 2


def test_blocks_branching_on_parameter_values_are_traced(copies: list[str]) -> None:
    net = nn.Sequential(*[Gated(g) for g in (1.0, -1.0, 1.0, -1.0)])
    g = same_graph(net, (1, 4))
    assert sum(n.op == "tanh" for n in g.nodes) == 2
    assert not g.notes and g.params == 4 * (1 + 4 * 4 + 4)  # (each gate counted where read)
    assert [n.name for n in g.nodes if n.op == "item"] == ["0.item", "1.item", "2.item", "3.item"]


def test_a_class_whose_copies_did_not_pay_is_looked_at_again_every_16th_trace(
    copies: list[str],
) -> None:
    net = nn.Sequential(*[Encoder() for _ in range(3)])
    key = (nn.Sequential, Encoder)
    block_copies._WORTH = 0.9  # as set (the fixture's inf is put back after the test)
    block_copies._COSTS[key] = (9e-6, 1e-5, block_copies._SAMPLES)  # copies cost 0.9 of tracing
    plain = traced(net, (1, 4, 16))  # the model class's first trace
    for _ in range(block_copies._EXPLORE - 2):
        assert trace_torch(net, (1, 4, 16)).nodes == plain.nodes
    assert copies == []  # not looked at in traces 2 to 15 ...
    assert trace_torch(net, (1, 4, 16)).nodes == plain.nodes
    assert copies == ["1", "2"]  # ... and in the 16th
    copy, trace, seen = block_copies._COSTS[key]
    assert seen == block_copies._SAMPLES + 1 and copy <= 9e-6 and trace <= 1e-5


def test_blocks_that_never_repeat_equal_are_left_alone_after_their_first_traces(
    copies: list[str],
) -> None:
    net = nn.Sequential(Encoder(8, 2), nn.Linear(8, 16), Encoder(16, 2), nn.Linear(16, 8))
    for _ in range(block_copies._SAMPLES + 2):
        trace_torch(net, (1, 4, 8))
    copy, _, seen = block_copies._COSTS[(nn.Sequential, Encoder)]
    assert copies == [] and seen == block_copies._SAMPLES and copy == float("inf")
