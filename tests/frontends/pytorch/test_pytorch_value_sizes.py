"""Activation bytes at each output's own dtype: a node whose output is not of the model's
dtype (int64 indices, a bool mask, half-precision values after a cast, 8-bit quantized
outputs, int64 token ids given as an input) counts the bytes torch stores it in, as the real
tensor's ``nbytes``; a cast itself makes no node."""

from __future__ import annotations

import io

import pytest
import torch
from torch import nn
from torch.ao import quantization as tq

import stridescope
from stridescope.analysis.summary_format import footer_lines
from stridescope.frontends import load_graph
from stridescope.ir import Graph


class _Mixed(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.head = nn.Conv2d(8, 4, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        half = self.conv(x).half() * 2  # computed in half precision
        y = self.head(half.float())
        return y, y > 0, y.argmax(dim=1), y.max(dim=1)


def _by_name(graph: Graph) -> dict[str, int]:
    return {n.name: n.activation_bytes for n in graph.nodes}


def test_each_output_counts_the_bytes_of_its_dtype() -> None:
    model = _Mixed().eval()
    x = torch.rand(2, 3, 8, 8)
    with torch.no_grad():
        real = {
            "conv": model.conv(x),
            "mul": model.conv(x).half() * 2,
            "head": model.head((model.conv(x).half() * 2).float()),
        }
        y = real["head"]
        real |= {"gt": y > 0, "argmax": y.argmax(dim=1)}
        values, indices = y.max(dim=1)
    found = _by_name(load_graph(model, tuple(x.shape)))
    for name, tensor in real.items():
        assert found[name] == tensor.nbytes, name
    max_nodes = sorted(v for k, v in found.items() if k.startswith("max"))
    assert max_nodes == sorted([values.nbytes, indices.nbytes])  # values float32, indices int64
    assert indices.dtype == torch.int64 and found["input"] == x.nbytes


def test_a_half_model_counts_two_bytes_and_its_indices_eight() -> None:
    model = _Mixed().eval().half()
    found = _by_name(load_graph(model, (1, 3, 8, 8)))
    assert found["conv"] == 8 * 64 * 2 and found["head"] == 4 * 64 * 4  # .float() before head
    assert found["argmax"] == 64 * 8 and found["gt"] == 4 * 64


def test_typed_inputs_count_their_own_size() -> None:
    model = nn.Embedding(100, 16)
    found = _by_name(load_graph(model, ["1x12:int64"]))
    assert found["input"] == 12 * 8 and found["embedding"] == 12 * 16 * 4


class _Quantized(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.quant, self.dequant = tq.QuantStub(), tq.DeQuantStub()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.relu = nn.ReLU()
        self.down = nn.Conv2d(8, 8, 1, stride=2)
        self.after = nn.Conv2d(8, 4, 1)  # float again, after the dequantization

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.down(self.relu(self.conv(self.quant(x))))
        return self.after(self.dequant(x))


def _converted() -> nn.Module:
    torch.manual_seed(0)
    model = _Quantized().eval()
    model.after.qconfig = None  # left float
    tq.fuse_modules(model, [["conv", "relu"]], inplace=True)
    engine = torch.backends.quantized.engine
    model.qconfig = tq.get_default_qconfig(engine if engine != "none" else "x86")
    model.after.qconfig = None
    prepared = tq.prepare(model)
    with torch.no_grad():
        prepared(torch.rand(4, 3, 8, 8))
    return tq.convert(prepared)


@pytest.mark.parametrize("kind", ["python", "script", "trace"])
def test_quantized_layers_count_one_byte_a_value(kind: str) -> None:
    model = _converted()
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        inner = model.down(model.conv(model.quant(x)))
        out = model(x)
    assert inner.dtype == torch.quint8 and out.dtype == torch.float32
    target: nn.Module = model
    if kind != "python":
        compiled = torch.jit.script(model) if kind == "script" else torch.jit.trace(model, x)
        buffer = io.BytesIO()
        torch.jit.save(compiled, buffer)
        buffer.seek(0)
        target = torch.jit.load(buffer)
    graph = load_graph(target, tuple(x.shape))
    found = [(n.output_shape, n.activation_bytes) for n in graph.nodes]
    # input (float32), the fused conv's conv and ReLU, the stride-2 conv (8 bits), then float
    assert found == [
        ((1, 3, 8, 8), x.nbytes),
        ((1, 8, 8, 8), 8 * 64),
        ((1, 8, 8, 8), 8 * 64),
        ((1, 8, 4, 4), inner.numel()),
        ((1, 4, 4, 4), out.nbytes),
    ]


def test_the_footer_says_how_many_layers_hold_another_dtype() -> None:
    quantized = footer_lines(stridescope.summary(_converted(), input_shape=(1, 3, 8, 8)))
    assert (
        "(every layer's output, at its dtype's size: 3 of 4 layers are not float32, "
        in (quantized[2])
    )
    plain = footer_lines(stridescope.summary(nn.Conv2d(3, 4, 3), input_shape=(1, 3, 8, 8)))
    assert plain[2].endswith("(every layer's output, float32, batch 1)")


@pytest.mark.parametrize(
    "reduce",
    [
        lambda x: x.sum(1),
        lambda x: torch.sum(x),
        lambda x: x.sum(dim=(1,), keepdim=True),
        lambda x: x.sum(1, dtype=torch.float16),
        lambda x: x.float().mean(1, dtype=torch.float64),
        lambda x: x.int().sum(1),
        lambda x: (x > 0).sum(1),
    ],
)
def test_a_sum_takes_torchs_dtype(reduce: object) -> None:
    """A sum of bools or integers is int64, as torch makes it (a mask's count: its values
    index and slice after), and ``dtype=`` is the output's; before, the input's dtype."""

    class Reduce(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return reduce(x)  # type: ignore[operator,no-any-return]

    graph = load_graph(Reduce(), "2x6:int16")
    real = Reduce()(torch.ones(2, 6, dtype=torch.int16))
    assert graph.output.output_shape == tuple(real.shape)
    assert graph.output.activation_bytes == real.nbytes
