"""trace_torch against torch itself: parameters, MACs, shapes, DAG and names."""

from __future__ import annotations

import random
from collections import OrderedDict
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils.flop_counter import FlopCounterMode

from stridescope.frontends import trace_torch
from stridescope.ir import Graph, GraphBuilder, OpKind
from stridescope.ops import create_op, op_names
from tests.frontends.pytorch.applied import odd_op
from tests.frontends.pytorch.resnet_models import FunctionalNet, resnet50, seed_cnn


class SqueezeExcite(nn.Module):
    """Depthwise + grouped convs and a broadcast multiply."""

    def __init__(self, c: int = 16) -> None:
        super().__init__()
        self.dw = nn.Conv2d(c, c, 3, padding=2, dilation=2, groups=c, bias=False)
        self.bn = nn.BatchNorm2d(c)
        self.act = nn.SiLU()
        self.fc1 = nn.Conv2d(c, c // 4, 1)
        self.fc2 = nn.Conv2d(c // 4, c, 1)
        self.pw = nn.Conv2d(c, 2 * c, 1, groups=4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.bn(self.dw(x)))  # (N, C, H, W)
        s = F.adaptive_avg_pool2d(x, 1)  # (N, C, 1, 1)
        s = torch.sigmoid(self.fc2(F.relu(self.fc1(s))))
        return self.pw(x * s)  # (N, 2C, H, W)


class Shared(nn.Module):
    """One conv called twice: its weights count once."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.block = nn.Conv2d(8, 8, 3, padding=1)
        self.norm = nn.GroupNorm(2, 8)
        self.head = nn.Sequential(nn.Flatten(), nn.LayerNorm(8 * 8 * 8), nn.Linear(512, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = self.block(F.gelu(self.block(x)))
        return self.head(self.norm(x))


class Conv1dNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv1d(4, 8, 5, stride=2, padding=2),
            nn.BatchNorm1d(8),
            nn.PReLU(8),
            nn.MaxPool1d(3, 2, 1),
            nn.AvgPool1d(2, ceil_mode=True),
            nn.AdaptiveMaxPool1d(3),
        )
        self.fc = nn.Linear(24, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.body(x).reshape(x.shape[0], -1))


def geometry_stack() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, 6, 3, padding="same", padding_mode="reflect"),
        nn.Conv2d(6, 6, (3, 5), padding="valid", dilation=(2, 1)),
        nn.Conv2d(6, 12, 3, stride=2, padding=(1, 2), groups=3),
        nn.Conv2d(12, 12, 3, padding=1, groups=12, bias=False, padding_mode="circular"),
        nn.MaxPool2d(3, 2, 1, ceil_mode=True),
        nn.AvgPool2d(2, padding=1, ceil_mode=True),
        nn.PixelUnshuffle(2),
        nn.PixelShuffle(2),
        nn.Upsample(scale_factor=1.5),
        nn.ZeroPad2d((1, 0, 2, 1)),
        nn.AdaptiveMaxPool2d((3, None)),
        nn.Dropout(0.2),
        nn.Identity(),
        nn.Flatten(1, 2),
    )


MODELS: dict[str, tuple[Any, tuple[int, ...]]] = {
    "seed_cnn": (seed_cnn, (1, 3, 32, 32)),
    "functional": (FunctionalNet, (2, 3, 16, 16)),
    "squeeze_excite": (SqueezeExcite, (1, 16, 12, 12)),
    "shared": (Shared, (1, 3, 8, 8)),
    "conv1d": (Conv1dNet, (2, 4, 30)),
    "geometry_stack": (geometry_stack, (1, 3, 23, 23)),
    "resnet50_meta": (lambda: resnet50(device="meta"), (1, 3, 224, 224)),
}
REAL = [name for name in MODELS if not name.endswith("_meta")]


def build(name: str) -> tuple[nn.Module, tuple[int, ...], Graph]:
    torch.manual_seed(0)
    factory, shape = MODELS[name]
    model = factory().eval()
    return model, shape, trace_torch(model, shape)


class ShapeRecorder(TorchFunctionMode):
    """Records the shape of every tensor a top-level torch call returns in a real forward."""

    def __init__(self) -> None:
        super().__init__()
        self.shapes: list[tuple[int, ...]] = []

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        for value in out if isinstance(out, tuple | list) else (out,):
            if isinstance(value, torch.Tensor):
                self.shapes.append(tuple(value.shape))
        return out


def mac_sum(graph: Graph, kinds: tuple[OpKind, ...] = (OpKind.CONV, OpKind.LINEAR)) -> int:
    return sum(n.macs for n in graph.nodes if n.kind in kinds)


def test_seed_cnn_params_and_shapes() -> None:
    _, _, g = build("seed_cnn")
    assert g.params == 54_922
    shapes = [n.output_shape for n in g.nodes if n.kind is not OpKind.ACTIVATION][1:]
    assert shapes == [
        *[(1, 32, 30, 30), (1, 32, 15, 15), (1, 64, 13, 13), (1, 64, 7, 7)],
        *[(1, 3136), (1, 10)],
    ]
    assert [n.op for n in g.nodes[1:4]] == ["Conv2d", "ReLU", "MaxPool2d"]
    assert g.layout == "nchw" and g.source == "torch"


@pytest.mark.parametrize(
    ("v1", "macs"), [(False, 4_089_184_256), (True, 3_857_973_248)], ids=["v1.5", "v1"]
)
def test_resnet50_params_and_macs(v1: bool, macs: int) -> None:
    g = trace_torch(resnet50(stride_in_1x1=v1, device="meta"), (1, 3, 224, 224))
    assert g.params == 25_557_032
    assert mac_sum(g) == macs
    assert g.output.output_shape == (1, 1000) and not g.uncounted and not g.notes


@pytest.mark.parametrize("name", list(MODELS))
def test_params_equal_torch(name: str) -> None:
    model, _, g = build(name)
    assert g.params == sum(p.numel() for p in model.parameters())
    assert all(n.counted for n in g.nodes) and not g.notes


@pytest.mark.parametrize("name", ["seed_cnn", "functional", "squeeze_excite", "resnet50_meta"])
def test_conv_linear_macs_equal_flop_counter(name: str) -> None:
    model, shape, g = build(name)
    x = torch.randn(shape, device="meta" if name.endswith("_meta") else "cpu")
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    assert mac_sum(g) * 2 == counter.get_total_flops() > 0


@pytest.mark.parametrize("name", ["seed_cnn", "functional", "squeeze_excite", "shared", "conv1d"])
def test_every_node_shape_equals_real_forward(name: str) -> None:
    model, shape, g = build(name)
    recorder, x = ShapeRecorder(), torch.randn(shape)
    with recorder, torch.no_grad():
        model(x)
    assert [n.output_shape for n in g.nodes[1:]] == recorder.shapes


def test_module_stack_shapes_equal_real_forward() -> None:
    model, shape, g = build("geometry_stack")
    x, expected = torch.randn(shape), []
    for layer in model:
        x = layer(x)
        if not isinstance(layer, nn.Identity):
            expected.append(tuple(x.shape))
    assert [n.output_shape for n in g.nodes[1:]] == expected
    assert [n.name for n in g.nodes[1:4]] == ["0", "1", "2"]
    assert g.nodes[3].groups == 3 and g.nodes[3].window is not None


def test_residual_parents_in_resnet() -> None:
    g = trace_torch(resnet50(device="meta"), (1, 3, 56, 56))
    by_name = {n.name: n for n in g.nodes}
    add = by_name["layer1.0.add"]
    assert add.kind is OpKind.ADD and add.op == "add"
    assert add.parents == (by_name["layer1.0.bn3"].id, by_name["layer1.0.downsample.1"].id)
    assert by_name["layer1.0.relu_2"].parents == (add.id,)
    add1 = by_name["layer1.1.add"]
    assert add1.parents == (by_name["layer1.1.bn3"].id, by_name["layer1.0.relu_2"].id)
    assert by_name["layer1.0.downsample.0"].parents == (by_name["maxpool"].id,)
    assert by_name["flatten"].op == "flatten" and by_name["fc"].parents == (by_name["flatten"].id,)


def test_functional_ops_have_module_paths_and_cat_parents() -> None:
    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = F.max_pool2d(self.conv(x), 2)
            return torch.cat([F.max_pool2d(y, 2), F.avg_pool2d(y, 2)], dim=1)

    model = nn.Sequential(OrderedDict(features=Block()))
    g = trace_torch(model, (1, 3, 16, 16))
    names = [(n.name, n.op, n.kind) for n in g.nodes[1:]]
    assert names == [
        ("features.conv", "Conv2d", OpKind.CONV),
        ("features.max_pool2d", "F.max_pool2d", OpKind.MAXPOOL),
        ("features.max_pool2d_1", "F.max_pool2d", OpKind.MAXPOOL),
        ("features.avg_pool2d", "F.avg_pool2d", OpKind.AVGPOOL),
        ("features.cat", "cat", OpKind.CONCAT),
    ]
    assert g.output.parents == (3, 4) and g.output.output_shape == (1, 8, 4, 4)


def test_shared_module_counted_once_with_suffixed_names() -> None:
    _, _, g = build("shared")
    blocks = [n for n in g.nodes if n.name.startswith("block")]
    assert [n.name for n in blocks] == ["block", "block_1"]
    assert [n.params for n in blocks] == [8 * 8 * 9 + 8, 0]
    assert blocks[0].macs == blocks[1].macs > 0


def test_broadcast_multiply_and_fixed_filter() -> None:
    _, _, g = build("squeeze_excite")
    mul = next(n for n in g.nodes if n.kind is OpKind.MUL)
    assert mul.output_shape == (1, 16, 12, 12) and mul.macs == 16 * 12 * 12
    _, _, f = build("functional")
    blur = next(n for n in f.nodes if n.name == "conv2d_1")
    assert blur.params == 0 and blur.macs == 2 * 8 * 8 * 8 * 9 and blur.groups == 8


def test_unknown_ops_are_uncounted_not_zero() -> None:
    class Odd(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 3, padding=1)
            self.out = nn.Conv2d(3, 2, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.conv(x)  # (N, 3, H, W)
            x = x + odd_op(odd_op(x))
            return self.out(x)

    g = trace_torch(Odd(), (1, 3, 8, 10))
    uncounted = {n.name: n for n in g.uncounted}
    assert set(uncounted) == {"odd", "odd_1"}
    for node in uncounted.values():
        assert node.kind is OpKind.UNCOUNTED and "not modelled" in node.note
    odd = uncounted["odd"]
    assert odd.op == "stridescope_tests.odd" and odd.output_shape == (1, 3, 8, 10)
    assert g.output.name == "out" and g.output.output_shape == (1, 2, 8, 10)


class ZooLeaf(nn.Module):
    """Implements the ``stridescope_ir`` protocol; its forward must never run in a trace."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(cin, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise AssertionError("the tracer ran the forward of a stridescope_ir leaf")

    def stridescope_ir(self, builder: GraphBuilder, parent: int, name: str) -> int:
        pooled = builder.pool(parent, f"{name}.pool", mode="avg", kernel=2, op="AvgPool2d")
        return builder.conv(
            pooled, f"{name}.proj", out_channels=self.proj.out_channels, kernel=1, op="Conv2d"
        )


def test_stridescope_ir_modules_are_leaves() -> None:
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), ZooLeaf(8, 16), nn.ReLU())
    g = trace_torch(model, (1, 3, 16, 16))
    assert [n.name for n in g.nodes[1:]] == ["0", "1.pool", "1.proj", "2"]
    assert g.output.parents == (3,) and g.output.output_shape == (1, 16, 8, 8)
    assert g.params == sum(p.numel() for p in model.parameters())


def test_unused_parameters_are_noted_not_dropped() -> None:
    class WithSpare(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = seed_cnn()
            self.spare = nn.Linear(10, 10)  # registered, never called

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.body(x)

    g = trace_torch(WithSpare(), (1, 3, 32, 32))
    assert g.params == 54_922
    assert g.notes and "110 parameters" in g.notes[0] and "spare.weight" in g.notes[0]


class StdConv(nn.Conv2d):
    """Overrides forward: traced through it, not read from its attributes."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight - self.weight.mean(dim=(1, 2, 3), keepdim=True)  # computed weight
        return F.conv2d(F.pad(x, (1, 1, 1, 1)), w, self.bias, self.stride)


def test_overridden_forward_and_computed_weight() -> None:
    model = nn.Sequential(StdConv(3, 8, 3, stride=2), nn.ReLU())
    g = trace_torch(model, (1, 3, 15, 15))
    assert [(n.name, n.op) for n in g.nodes[1:]] == [
        ("0.pad", "F.pad"),
        ("0.conv2d", "F.conv2d"),
        ("1", "ReLU"),
    ]
    assert g.nodes[2].params == 8 * 3 * 9 + 8 and g.params == 224 and not g.notes
    assert g.nodes[2].output_shape == tuple(model(torch.randn(1, 3, 15, 15)).shape)


def test_weight_norm_parametrization_counts_at_the_conv() -> None:
    from torch.nn.utils.parametrizations import weight_norm

    model = nn.Sequential(weight_norm(nn.Conv2d(3, 4, 3)), nn.Flatten(), nn.Linear(144, 2))
    g = trace_torch(model, (1, 3, 8, 8))
    assert g.nodes[1].op == "ParametrizedConv2d" and g.nodes[1].params == 4 + 108 + 4
    assert g.params == sum(p.numel() for p in model.parameters()) and not g.notes


def test_a_transformer_layer_is_counted_like_the_flop_counter() -> None:
    model = nn.TransformerEncoderLayer(16, 4, 32, batch_first=True)
    g = trace_torch(model, (2, 5, 16))
    assert not g.uncounted
    assert g.params == sum(p.numel() for p in model.parameters()) and not g.notes
    assert g.output.output_shape == (2, 5, 16)
    with FlopCounterMode(display=False) as counter:  # training mode: no fused fast path
        model(torch.zeros(2, 5, 16))
    dense = sum(n.macs for n in g.nodes if n.kind in (OpKind.LINEAR, OpKind.MATMUL))
    assert 2 * dense == counter.get_total_flops()


class _PaddedEncoder(nn.Module):
    """``nn.TransformerEncoder`` (``enable_nested_tensor`` on, torch's default) with a padding
    mask made from the input, as text and speech encoders run it."""

    def __init__(self, masked: bool) -> None:
        super().__init__()
        layer = nn.TransformerEncoderLayer(16, 4, 32, batch_first=True)
        self.encoder, self.masked = nn.TransformerEncoder(layer, 2), masked

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = x.abs().sum(-1) == 0 if self.masked else None
        return self.encoder(x, src_key_padding_mask=mask)


def test_an_encoder_in_eval_mode_with_a_padding_mask_is_traced() -> None:
    """In eval mode with a padding mask, ``nn.TransformerEncoder`` first asks whether the mask
    is left-aligned (``torch._nested_tensor_from_mask_left_aligned``, no meta kernel): the
    trace stopped there. Now the layers as without the mask, torch's shape, nothing
    uncounted."""
    masked, plain = (trace_torch(_PaddedEncoder(m).eval(), (2, 7, 16)) for m in (True, False))
    assert not masked.uncounted and masked.params == plain.params
    dense = [
        sum(n.macs for n in g.nodes if n.kind in (OpKind.LINEAR, OpKind.MATMUL))
        for g in (masked, plain)
    ]
    assert dense[0] == dense[1] > 0
    assert masked.output.output_shape == (2, 7, 16)


def test_inplace_call_moves_the_tensor_forward() -> None:
    class InPlace(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            F.relu_(x)
            x.mul_(2)
            return x.flatten(1)

    g = trace_torch(InPlace(), (1, 2, 3, 3))
    assert [(n.name, n.parents) for n in g.nodes[1:]] == [
        ("relu", (0,)),
        ("mul", (1,)),
        ("flatten", (2,)),
    ]


@pytest.mark.parametrize("op_name", op_names())
def test_operator_zoo_modules_are_leaves(op_name: str) -> None:
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), create_op(op_name, 8, 16), nn.ReLU())
    g = trace_torch(net, (1, 3, 16, 16))
    assert g.params == sum(p.numel() for p in net.parameters()) and not g.notes
    assert g.output.output_shape == tuple(net(torch.randn(1, 3, 16, 16)).shape)
    assert all(n.name.startswith("1.") for n in g.nodes[2:-1]) and len(g.nodes) > 3


def random_layer(rng: random.Random) -> tuple[nn.Module, tuple[int, ...]]:
    """A random conv or pool layer and an input shape it accepts."""
    k, s, d = rng.randint(1, 5), rng.randint(1, 3), rng.randint(1, 2)
    size = (1, 4, rng.randint((k - 1) * d + 1, 20), rng.randint((k - 1) * d + 1, 20))
    kind = rng.choice(["conv", "max", "avg"])
    if kind == "conv":
        padding: Any = rng.choice([0, k // 2, (k // 2, 0), "valid"] + (["same"] * (s == 1)))
        groups = rng.choice([1, 2, 4])
        mode = rng.choice(["zeros", "zeros", "reflect", "circular"])
        if mode != "zeros" and (padding in ("valid", 0) or max(size[2:]) < k):
            mode = "zeros"
        layer: nn.Module = nn.Conv2d(4, 4 * rng.randint(1, 2), k, s, padding, d, groups)
        layer.padding_mode = mode
        return layer, size
    pad = rng.randint(0, k // 2)
    ceil = rng.random() < 0.5
    if kind == "max":
        return nn.MaxPool2d(k, s, pad, d, ceil_mode=ceil), size
    return nn.AvgPool2d(k, s, pad, ceil_mode=ceil), size


class AsFunction(nn.Module):
    """Calls the functional form of a conv or pool layer with the layer's arguments."""

    def __init__(self, layer: Any) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = self.layer
        if isinstance(m, nn.Conv2d):
            return F.conv2d(x, m.weight, m.bias, m.stride, m.padding, m.dilation, m.groups)
        if isinstance(m, nn.MaxPool2d):
            return F.max_pool2d(x, m.kernel_size, m.stride, m.padding, m.dilation, m.ceil_mode)
        return F.avg_pool2d(x, m.kernel_size, m.stride, m.padding, m.ceil_mode)


@pytest.mark.parametrize("functional", [False, True], ids=["module", "functional"])
@pytest.mark.parametrize("seed", range(30))
def test_random_layers_match_torch(seed: int, functional: bool) -> None:
    layer, shape = random_layer(random.Random(seed))
    if functional:
        if isinstance(layer, nn.Conv2d):
            layer.padding_mode = "zeros"
        layer = AsFunction(layer)
    x = torch.randn(shape)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        expected = tuple(layer(x).shape)
    g = trace_torch(layer, shape)
    assert g.output.output_shape == expected, layer
    assert mac_sum(g) * 2 == counter.get_total_flops()
    assert g.params == sum(p.numel() for p in layer.parameters())
