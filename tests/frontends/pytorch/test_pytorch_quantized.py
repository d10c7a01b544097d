"""A quantized model (``torch.ao.quantization``'s ``convert`` or ``quantize_dynamic``) is read
as the float model it was converted from: each quantized layer from its attributes (its packed
weights are not parameters, so ``model.parameters()`` leaves them out; they count here),
``Quantize``/``DeQuantize`` make no node, ``QFunctional``'s operations are the float ones (an
``add_relu`` an add and a ReLU). A quantized layer without a reader is refused in one line
that names it and says what to summarise instead."""

from __future__ import annotations

import io

import pytest
import torch
import torch.ao.nn.intrinsic.quantized as nniq
import torch.ao.nn.intrinsic.quantized.dynamic as nniqd
import torch.ao.nn.quantized as nnq
import torch.ao.nn.quantized.dynamic as nnqd
from torch import nn
from torch.ao import quantization as tq

from stridescope.errors import StridescopeError
from stridescope.frontends import load_graph
from stridescope.frontends.pytorch.quantized_ops import PACKED_NOTE
from stridescope.ir import Graph

SHAPE = (1, 3, 16, 16)


class _Block(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU()
        self.skip = nnq.FloatFunctional()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.skip.add_relu(self.relu(self.bn(self.conv(x))), x)


class _Net(nn.Module):
    """Every layer eager-mode quantization converts: conv + BN + ReLU, a residual add with a
    ReLU, a concatenation, a stride-2 conv, hard swish, pooling, linear + ReLU, a linear."""

    def __init__(self) -> None:
        super().__init__()
        self.quant, self.dequant = tq.QuantStub(), tq.DeQuantStub()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.block = _Block(8)
        self.cat = nnq.FloatFunctional()
        self.down = nn.Conv2d(16, 16, 1, stride=2)
        self.act = nn.Hardswish()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1, self.relu = nn.Linear(16, 12), nn.ReLU()
        self.fc2 = nn.Linear(12, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(self.quant(x))
        x = self.act(self.down(self.cat.cat([self.block(x), x], dim=1)))
        x = self.relu(self.fc1(self.pool(x).flatten(1)))
        return self.dequant(self.fc2(x))


def _fused() -> nn.Module:
    torch.manual_seed(0)
    model = _Net().eval()
    tq.fuse_modules(model, [["stem.0", "stem.1", "stem.2"], ["fc1", "relu"]], inplace=True)
    tq.fuse_modules(model.block, [["conv", "bn", "relu"]], inplace=True)
    return model


def _quantized(model: nn.Module) -> nn.Module:
    engine = torch.backends.quantized.engine
    model.qconfig = tq.get_default_qconfig(engine if engine != "none" else "x86")
    prepared = tq.prepare(model)
    with torch.no_grad():
        prepared(torch.rand(4, *SHAPE[1:]))  # calibration
    return tq.convert(prepared)


def _layers(graph: Graph) -> list[tuple[object, ...]]:
    return [(n.kind, n.output_shape, n.params, n.macs, n.window) for n in graph.nodes]


def test_a_quantized_model_has_the_graph_of_its_float_model() -> None:
    fused = _fused()
    expected = load_graph(fused, SHAPE)
    quantized = _quantized(_fused())
    assert sum(p.numel() for p in quantized.parameters()) == 0  # the packed weights aside
    graph = load_graph(quantized, SHAPE)
    # (the one note says where the parameters come from: model.parameters() lists none)
    assert not graph.uncounted and graph.notes == (PACKED_NOTE,) and not expected.notes
    assert graph.params == sum(p.numel() for p in fused.parameters()) == expected.params
    assert _layers(graph) == _layers(expected)
    names = [n.name for n in graph.nodes]
    # a fused layer: its node under its path, then its ReLU; add_relu: an add and a ReLU, as
    # the float model's FloatFunctional makes them
    assert names[1:5] == ["stem.0", "stem.0.relu", "block.conv", "block.conv.relu"]
    assert names[5:7] == [n.name for n in expected.nodes[5:7]] == ["block.add", "block.relu_1"]


def test_a_quantized_layer_called_twice_counts_its_weights_once() -> None:
    class Twice(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.quant, self.conv = tq.QuantStub(), nn.Conv2d(3, 3, 3, padding=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.conv(self.conv(self.quant(x)))

    quantized = _quantized(Twice().eval())
    graph = load_graph(quantized, SHAPE)
    assert graph.params == 3 * 3 * 9 + 3 and graph.macs == 2 * 3 * 3 * 9 * 16 * 16


@pytest.mark.parametrize("kind", ["linear", "lstm"])
def test_a_dynamically_quantized_model_counts_as_its_float_model(kind: str) -> None:
    if kind == "linear":
        model: nn.Module = nn.Sequential(
            nn.Conv2d(3, 8, 3), nn.Flatten(), nn.Linear(8 * 14 * 14, 10)
        )
        shape: tuple[int, ...] = SHAPE
    else:
        model, shape = nn.LSTM(4, 8, batch_first=True), (1, 5, 4)
    quantized = tq.quantize_dynamic(model.eval(), {nn.Linear, nn.LSTM})
    graph, expected = load_graph(quantized, shape), load_graph(model, shape)
    assert _layers(graph) == _layers(expected) and not graph.uncounted
    assert graph.params == sum(p.numel() for p in model.parameters())
    # (a dynamic LSTM's packed weights are counted through its own call, without the note)
    assert (PACKED_NOTE in graph.notes) == (kind == "linear") and not expected.notes


class _Around(nn.Module):
    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.quant, self.layer, self.dequant = (
            nnq.Quantize(0.1, 0, torch.quint8),
            layer,
            nnq.DeQuantize(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dequant(self.layer(self.quant(x)))


_WEIGHTS = (nn.Parameter(torch.ones(8)), nn.Parameter(torch.zeros(8)))


@pytest.mark.parametrize(
    ("layer", "float_layer"),
    [
        (nnq.ConvTranspose2d(8, 3, 2, stride=2), nn.ConvTranspose2d(8, 3, 2, stride=2)),
        (nnq.Conv3d(8, 3, 3), nn.Conv3d(8, 3, 3)),
        (nnqd.Conv2d(8, 3, 3, padding=1), nn.Conv2d(8, 3, 3, padding=1)),
        (nnq.LayerNorm([8], *_WEIGHTS, 1.0, 0), nn.LayerNorm([8])),
        (nnq.GroupNorm(2, 8, *_WEIGHTS, 1.0, 0), nn.GroupNorm(2, 8)),
        (nniq.BNReLU2d(8), nn.Sequential(nn.BatchNorm2d(8), nn.ReLU())),
        (nniq.LinearTanh(8, 5), nn.Sequential(nn.Linear(8, 5), nn.Tanh())),
        (nnq.PReLU(1.0, 0, 8), nn.PReLU(8)),
        (nnq.Softmax(1), nn.Softmax(1)),
    ],
    ids=lambda m: type(m).__name__,
)
def test_each_quantized_layer_counts_as_its_float_layer(
    layer: nn.Module, float_layer: nn.Module
) -> None:
    shape = (1, 8, 6, 6, 6) if isinstance(layer, nnq.Conv3d) else (1, 8, 8, 8)
    graph, expected = (
        load_graph(_Around(layer).eval(), shape),
        load_graph(float_layer.eval(), shape),
    )
    assert _layers(graph) == _layers(expected) and not graph.uncounted


def test_a_quantized_layer_without_a_reader_is_refused_with_what_to_do() -> None:
    class Bag(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bag = nnq.EmbeddingBag(100, 16)

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            return self.bag(ids.flatten(), torch.tensor([0, 6]))

    with pytest.raises(StridescopeError) as error:
        load_graph(Bag().eval(), ["1x12:int64"])
    message = str(error.value)
    assert "\n" not in message
    assert "1 quantized layer (bag (EmbeddingBag))" in message
    assert "summarise the float model" in message


class _TwoInputs(nn.Module):
    """A fused conv + residual add (``ConvAdd2d``, what x86's fusion makes), on the input
    quantized and added to itself."""

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.quant, self.layer = nnq.Quantize(0.1, 0, torch.quint8), layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = self.quant(x)
        return self.layer(q, q)


class _FloatAdd(nn.Module):
    def __init__(self, relu: bool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.act = nn.ReLU() if relu else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv(x) + x)


@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("kind", ["python", "script"])
def test_a_fused_conv_and_add_counts_as_the_conv_and_the_add(relu: bool, kind: str) -> None:
    layer = (nniq.ConvAddReLU2d if relu else nniq.ConvAdd2d)(3, 3, 3, padding=1)
    model: nn.Module = _TwoInputs(layer).eval()
    if kind == "script":
        model = torch.jit.script(model)
    graph, expected = load_graph(model, SHAPE), load_graph(_FloatAdd(relu).eval(), SHAPE)
    assert _layers(graph) == _layers(expected) and not graph.uncounted


def test_quantized_embeddings_and_dynamic_linear_relu_count_as_float_layers() -> None:
    embedding = nn.Sequential(nnq.Embedding(100, 16)).eval()
    graph, expected = (
        load_graph(embedding, ["1x12:int64"]),
        load_graph(nn.Embedding(100, 16), ["1x12:int64"]),
    )
    assert _layers(graph) == _layers(expected) and not graph.uncounted
    fused = nniqd.LinearReLU(8, 5)
    linear = load_graph(nn.Sequential(fused).eval(), (1, 8))
    float_graph = load_graph(nn.Sequential(nn.Linear(8, 5), nn.ReLU()).eval(), (1, 8))
    assert _layers(linear) == _layers(float_graph) and not linear.uncounted


@pytest.mark.parametrize("kind", ["script", "trace"])
def test_a_compiled_quantized_model_counts_as_the_quantized_model(kind: str) -> None:
    quantized = _quantized(_fused())
    if kind == "script":
        compiled = torch.jit.script(quantized)
    else:
        compiled = torch.jit.trace(quantized, torch.rand(SHAPE))
    buffer = io.BytesIO()
    torch.jit.save(compiled, buffer)
    buffer.seek(0)
    loaded = torch.jit.load(buffer)  # quantized:: operations on packed weights, no Python
    graph, expected = load_graph(loaded, SHAPE), load_graph(quantized, SHAPE)
    assert not graph.uncounted
    assert (graph.params, graph.macs) == (expected.params, expected.macs)
    assert graph.output.output_shape == expected.output.output_shape
    # a fused layer's node by its path, its activation under it, as in Python (QFunctional's
    # operations are recorded under the QFunctional in a scripted graph: block.skip.add)
    layers = ["stem.0", "stem.0.relu", "block.conv", "block.conv.relu", "down", "act", "fc1"]
    assert set(layers) <= {n.name for n in graph.nodes}
