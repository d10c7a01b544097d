"""Models as ``torch.export`` and ``torch.compile`` hand them over: an exported program's
module calls ATen overloads (``aten.conv2d.default``, ``aten.hardswish_.default``), each read
by the handler of the torch function binding the same operation, so the exported model's graph
is the original's; ``torch.compile``'s wrapper is read as the model it wraps, without running
TorchDynamo on the proxies."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from stridescope.frontends.pytorch import trace_torch
from stridescope.ir import Graph, OpKind

SHAPE = (1, 3, 32, 32)


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.BatchNorm2d(8), nn.ReLU(True))
        self.block = nn.Sequential(nn.Conv2d(8, 8, 3, 1, 1, groups=8), nn.Hardswish(True))
        self.pool = nn.MaxPool2d(2)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(8, 4)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = x + self.block(x)
        return self.head(self.pool(x)[:, :, 1:])


def _facts(graph: Graph) -> list[tuple[object, ...]]:
    return [(n.kind, n.output_shape, n.params, n.macs, n.window) for n in graph.nodes]


def test_an_exported_model_has_the_graph_of_the_original() -> None:
    model = _Net().eval()
    exported = torch.export.export(model, (torch.rand(SHAPE),)).module()
    graph = trace_torch(exported, SHAPE)
    assert not graph.uncounted, [(n.name, n.op) for n in graph.uncounted]
    assert _facts(graph) == _facts(trace_torch(model, SHAPE))
    assert graph.params == sum(p.numel() for p in model.parameters()) and not graph.notes
    # each operation named after the module the graph records it came from, as in Python
    assert [n.name for n in graph.nodes] == [n.name for n in trace_torch(model, SHAPE).nodes]
    assert [n.name for n in graph.nodes[1:5]] == ["stem.0", "stem.1", "stem.2", "block.0"]


class _TwoWays(nn.Module):
    """Two inputs, and a dict of a tuple out: the graph's inputs and outputs are flattened."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Conv2d(3, 4, 3), nn.Conv2d(3, 4, 1, stride=2)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, tuple[torch.Tensor, ...]]:
        return {"maps": (self.a(x), self.b(y))}


def test_an_exported_model_takes_and_returns_what_the_original_does() -> None:
    model = _TwoWays().eval()
    shapes = [SHAPE, (1, 3, 8, 8)]
    exported = torch.export.export(model, tuple(torch.rand(s) for s in shapes)).module()
    graph, expected = trace_torch(exported, shapes), trace_torch(model, shapes)
    assert _facts(graph) == _facts(expected) and not graph.uncounted
    assert [n.name for n in graph.nodes[2:4]] == ["a", "b"]


class _Aten(nn.Module):
    """ATen overloads called directly, including ``batch_norm``, whose weight and bias come
    before the running statistics (``F.batch_norm`` takes them after)."""

    def __init__(self) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = self.norm
        aten = torch.ops.aten
        x = aten.batch_norm.default(
            x, n.weight, n.bias, n.running_mean, n.running_var, False, 0.1, 1e-5, True
        )
        x = aten.slice.Tensor(x, -1, 1, None, 2)  # x[..., 1::2]
        x = aten.cumsum.default(x, 1)  # torch.cumsum binds it: a scan over the channels
        return aten.special_bessel_j0.default(x)  # no torch function binds it: uncounted


def test_aten_overloads_called_in_a_forward() -> None:
    graph = trace_torch(_Aten().eval(), SHAPE)
    norm, cut, cumsum, bessel = graph.nodes[1:]
    assert (norm.kind, norm.params, norm.output_shape) == (OpKind.NORM, 6, SHAPE)
    expected = trace_torch(_Sliced(), SHAPE).nodes[-1]
    assert (cut.kind, cut.output_shape, cut.window) == (
        expected.kind,
        (1, 3, 32, 16),
        expected.window,
    )
    assert (cumsum.kind, cumsum.macs, cumsum.window) == (OpKind.REDUCE, 3 * 32 * 16, None)
    assert not bessel.counted and bessel.output_shape == (1, 3, 32, 16)


class _Sliced(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[..., 1::2]


def test_a_compiled_model_is_read_as_the_model_it_wraps() -> None:
    model = _Net().eval()
    expected = [
        (n.name, *fact)
        for n, fact in zip(
            trace_torch(model, SHAPE).nodes, _facts(trace_torch(model, SHAPE)), strict=True
        )
    ]
    compiled = torch.compile(model)
    graph = trace_torch(compiled, SHAPE)
    assert [(n.name, *fact) for n, fact in zip(graph.nodes, _facts(graph), strict=True)] == expected
    model.block = torch.compile(model.block)  # a compiled block inside: its layers, read
    inner = trace_torch(model, SHAPE)
    assert _facts(inner) == _facts(graph)


def test_an_overload_the_bound_function_refuses_is_run_on_meta() -> None:
    """Should a function's handler refuse an overload's arguments (a ``TypeError``), the
    operation is the usual uncounted node of its exact shape, never a failed trace."""
    from stridescope.frontends.pytorch import aten_calls
    from stridescope.frontends.pytorch.function_table import FUNCTIONS

    def four(
        args: tuple[object, ...], kwargs: dict[str, object]
    ) -> tuple[tuple[object, ...], dict[str, object]]:
        return (args[0], torch.zeros(2, 16), None, "a fourth argument"), kwargs

    key = (torch.ops.aten.cumsum.default, id(FUNCTIONS))
    aten_calls._FOUND[key] = (F.linear, four)  # (F.linear takes three)
    try:
        graph = trace_torch(_Aten().eval(), SHAPE)
    finally:
        del aten_calls._FOUND[key]
    cumsum = graph.nodes[-2]
    assert not cumsum.counted and cumsum.output_shape == (1, 3, 32, 16)


class _Decomposed(nn.Module):
    """Functions an exported or compiled graph holds only as their ATen operations:
    ``F.interpolate`` (``upsample_<mode>``), ``F.unfold`` (``im2col``), ``torch.einsum``
    (its operands as one list), ``torch.linalg.vector_norm`` (``linalg_vector_norm``) and a
    transposed convolution as ``torch.jit.trace`` records it (``_convolution``)."""

    def __init__(self, mode: str) -> None:
        super().__init__()
        self.mode = mode
        self.up = nn.ConvTranspose2d(3, 4, 2, stride=2)
        self.mix = nn.Parameter(torch.rand(4, 6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        aligned = None if self.mode in ("nearest", "nearest-exact") else False
        x = F.interpolate(self.up(x), scale_factor=2.0, mode=self.mode, align_corners=aligned)
        x = torch.einsum("nchw,cd->ndhw", x, self.mix)
        x = x / torch.linalg.vector_norm(x, dim=1, keepdim=True)
        return F.unfold(x, kernel_size=2, stride=2)


def test_operations_only_a_graph_holds_are_read_as_their_functions() -> None:
    for mode in ("nearest", "nearest-exact", "bilinear", "bicubic"):
        model = _Decomposed(mode).eval()
        expected = trace_torch(model, SHAPE)
        for compiled in (
            torch.export.export(model, (torch.rand(SHAPE),)).module(),
            torch.jit.trace(model, torch.rand(SHAPE)),
        ):
            graph = trace_torch(compiled, SHAPE)
            assert not graph.uncounted, (mode, [(n.name, n.op) for n in graph.uncounted])
            assert (graph.params, graph.macs, graph.output.output_shape) == (
                expected.params,
                expected.macs,
                expected.output.output_shape,
            ), mode


class _Token(nn.Module):
    """A class token expanded and joined to the tokens: in the exported graph ``cat`` gets its
    list as fx's ``immutable_list`` (a ``list`` subclass), which holds a parameter's tensor."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Conv2d(3, 8, 8, stride=8)
        self.token = nn.Parameter(torch.rand(1, 1, 8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.embed(x).flatten(2).transpose(1, 2)
        return torch.cat([self.token.expand(x.shape[0], -1, -1), x], dim=1)


def test_a_parameter_in_a_list_subclass_is_counted() -> None:
    model = _Token().eval()
    exported = torch.export.export(model, (torch.rand(SHAPE),)).module()
    graph = trace_torch(exported, SHAPE)
    assert graph.params == sum(p.numel() for p in model.parameters()) and not graph.notes
    assert _facts(graph) == _facts(trace_torch(model, SHAPE))


class _Positions(nn.Module):
    """A layer applied to a buffer of positions, before the image enters (ConViT's gated
    attention): a product on parameters alone, whose MACs count in the exported graph too."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Conv2d(3, 4, 8, stride=8)
        self.register_buffer("offsets", torch.rand(1, 16, 16, 3))
        self.project = nn.Linear(3, 1)
        self.gate = nn.Parameter(torch.ones(4))  # the root's own: its forward runs under the
        # parameter mode, where the projection is computed on meta tensors

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.embed(x).flatten(2).transpose(1, 2) * self.gate  # (1, 16, 4)
        scores = self.project(self.offsets).squeeze(-1)  # (1, 16, 16), from weights alone
        return scores @ tokens


def test_a_product_on_parameters_alone_counts_in_an_exported_graph() -> None:
    model = _Positions().eval()
    exported = torch.export.export(model, (torch.rand(SHAPE),)).module()
    graph, expected = trace_torch(exported, SHAPE), trace_torch(model, SHAPE)
    assert (graph.params, graph.macs) == (expected.params, expected.macs)
    assert any(n.macs == 16 * 16 * 3 for n in graph.nodes)  # the projection's own node
