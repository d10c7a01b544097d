"""A TorchScript model (``torch.jit.script`` or ``torch.jit.trace``, saved and loaded back, so
no Python forward is left) is read op by op from its compiled graph: the same parameters,
MACs and output shapes as the Python model it came from, each node named after its module;
the patterns compiled code holds (branches and loops on sizes, lists built and indexed, a
dict cache the forward fills, arguments left to their defaults, resampling, einsum,
transposed convolutions) each in one model; the model left as it was, training mode too."""

import io
from typing import Dict, List, Union  # noqa: UP035 (TorchScript reads typing's spelling)

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from stridescope.frontends.pytorch import trace_torch
from stridescope.frontends.pytorch.compiled_names import module_path
from stridescope.ir import Graph

SHAPE = (2, 3, 16, 16)


class _Block(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)) + x)


class _Net(nn.Module):
    """Every pattern: a loop over blocks, a branch on a size, a list of maps, a cache."""

    cache: Dict[str, torch.Tensor]  # noqa: UP006 (TorchScript reads typing's spelling)

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.blocks = nn.ModuleList([_Block(8) for _ in range(2)])
        self.up = nn.ConvTranspose2d(8, 4, 2, stride=2)
        self.mix = nn.Parameter(torch.rand(4, 4))
        self.head = nn.Linear(12, 5)
        self.cache = {}

    def forward(self, x: torch.Tensor, scale: float = 2.0) -> torch.Tensor:
        x = self.stem(x)
        maps: List[torch.Tensor] = []  # noqa: UP006
        for block in self.blocks:
            x = block(x)
            maps.append(x)
        if x.shape[-1] > 4:  # a branch on a size
            x = F.max_pool2d(x, 2)
        key = str(x.device)
        if key not in self.cache:  # a cache the forward fills (not while compiled: a copy)
            self.cache[key] = self.mix * 2.0
        up = self.up(maps[-1])
        up = torch.einsum("nchw,cd->ndhw", up, self.cache[key])
        x = F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False)
        pooled = torch.cat([x.mean((2, 3)), up.mean((2, 3))], dim=1)
        return self.head(pooled)


def _round_trip(module: nn.Module) -> torch.jit.ScriptModule:
    buffer = io.BytesIO()
    torch.jit.save(module, buffer)
    buffer.seek(0)
    return torch.jit.load(buffer)  # no Python forward; parameters are plain tensors


def _compiled(kind: str, model: nn.Module) -> torch.jit.ScriptModule:
    if kind == "script":
        return _round_trip(torch.jit.script(model))
    return _round_trip(torch.jit.trace(model, torch.rand(SHAPE), check_trace=False))


def _costs(graph: Graph) -> tuple[int, int, tuple[int | None, ...], int]:
    return graph.params, graph.macs, graph.output.output_shape, len(graph.uncounted)


@pytest.mark.parametrize("kind", ["script", "trace"])
def test_a_compiled_model_counts_as_its_python_model(kind: str) -> None:
    torch.manual_seed(0)
    model = _Net().eval()
    compiled = _compiled(kind, model)
    graph = trace_torch(compiled, SHAPE)
    expected = trace_torch(_Net().eval(), SHAPE)
    assert _costs(graph) == _costs(expected)
    assert graph.output.output_shape == tuple(compiled(torch.rand(SHAPE)).shape)
    assert not graph.uncounted and not graph.notes
    kinds = {n.kind for n in graph.nodes}
    assert {"conv", "matmul"} <= {str(k) for k in kinds}
    # named as the Python model's: a layer read whole by its path, a function by its call
    assert [n.name for n in graph.nodes] == [n.name for n in expected.nodes]
    assert {"stem", "blocks.1.conv", "blocks.1.add", "head"} <= {n.name for n in graph.nodes}


@pytest.mark.parametrize("kind", ["script", "trace"])
def test_the_compiled_model_is_left_as_it_was_in_training_mode(kind: str) -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU()).train()
    compiled = _compiled(kind, model)
    compiled.train()
    before = {k: v.clone() for k, v in compiled.state_dict().items()}
    graph = trace_torch(compiled, SHAPE)
    assert not graph.uncounted and graph.params == sum(p.numel() for p in model.parameters())
    after = compiled.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # num_batches_tracked too
    assert not any(hasattr(p, "_is_param") for p in compiled.parameters())


def test_a_compiled_forward_given_no_optional_argument_takes_its_default() -> None:
    torch.manual_seed(0)
    compiled = _compiled("script", _Net().eval())
    with_default = trace_torch(compiled, SHAPE)
    assert with_default.output.output_shape == (2, 5) and not with_default.uncounted


def test_module_paths_come_from_what_torchscript_records() -> None:
    assert module_path("SELF(Net).blocks(ModuleList).1(_Block).conv(Conv2d).SELF(Conv2d)") == (
        "blocks.1.conv"
    )
    assert module_path("features(Sequential).2(LayerNorm).UNKNOWN_INSTANCE(UNKNOWN_TYPE)") == (
        "features.2"
    )
    assert module_path("") == ""


class _Dense(nn.Module):
    """What timm's DenseNet and CSATv2 compile to: ``isinstance`` on a union, a tensor made
    from a Python list, indexing by tensors (``aten::index``), ``padding="same"`` (a traced
    graph's ``_convolution_mode``)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding="same")
        self.register_buffer("order", torch.tensor([3, 2, 1, 0]))

    def joined(self, x: Union[torch.Tensor, List[torch.Tensor]]) -> torch.Tensor:  # noqa: UP006, UP007
        if isinstance(x, torch.Tensor):
            return x
        return torch.cat(x, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        x = self.joined([x, x[:, self.order]])
        picked = torch.tensor([0, 2, 4, 6])
        return self.joined(x[:, picked])


@pytest.mark.parametrize("kind", ["script", "trace"])
def test_compiled_type_tests_lists_and_tensor_indices_count(kind: str) -> None:
    model = _Dense().eval()
    graph = trace_torch(_compiled(kind, model), SHAPE)
    expected = trace_torch(model, SHAPE)
    assert _costs(graph) == _costs(expected) and not graph.uncounted


class _Sequence(nn.Module):
    """Recurrent layers, which a compiled graph holds as ``aten::lstm`` / ``aten::gru`` /
    ``aten::rnn_tanh`` with their weights as one list (Sequencer's token mixers)."""

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)[0]


@pytest.mark.parametrize(
    "layer",
    [
        nn.LSTM(6, 8, num_layers=2, bidirectional=True, batch_first=True),
        nn.LSTM(6, 8, proj_size=4, bias=False),
        nn.GRU(6, 8, batch_first=True),
        nn.RNN(6, 8, nonlinearity="relu"),
    ],
    ids=["lstm", "lstm-proj", "gru", "rnn"],
)
@pytest.mark.parametrize("kind", ["script", "trace"])
def test_compiled_recurrent_layers_count_as_the_modules(kind: str, layer: nn.Module) -> None:
    model, shape = _Sequence(layer).eval(), (2, 5, 6)
    if kind == "script":
        compiled = _round_trip(torch.jit.script(model))
    else:
        compiled = _round_trip(torch.jit.trace(model, torch.rand(shape), check_trace=False))
    graph, expected = trace_torch(compiled, shape), trace_torch(model, shape)
    assert not graph.uncounted
    assert (graph.params, graph.macs, graph.output.output_shape) == (
        expected.params,
        expected.macs,
        expected.output.output_shape,
    )


class _Frozen(nn.Module):
    """What Hugging Face's traced models hold: a frozen position table added to the tokens (a
    parameter with no autograd history to find it by), ``x.T`` and ``x.mT``, a list of one
    tensor unpacked, and ``F.grid_sample`` (``aten::grid_sampler``, its modes numbered)."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Conv2d(3, 8, 4, stride=4)
        self.position = nn.Parameter(torch.rand(1, 16, 8), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        maps = [self.embed(x)]
        (only,) = maps
        tokens = only.flatten(2).mT + self.position[:, :16]
        grid = tokens[..., :2].reshape(2, 4, 4, 2).tanh()
        sampled = F.grid_sample(only, grid, mode="nearest", padding_mode="border")
        return sampled.flatten(1).T


@pytest.mark.parametrize("kind", ["script", "trace"])
def test_compiled_frozen_tables_transposes_and_sampling_count(kind: str) -> None:
    model = _Frozen().eval()
    graph, expected = trace_torch(_compiled(kind, model), SHAPE), trace_torch(model, SHAPE)
    assert not graph.uncounted and not graph.notes
    assert _costs(graph) == _costs(expected)
    assert graph.params == sum(p.numel() for p in model.parameters())


class _Twice(nn.Module):
    """One activation module called twice; a local response norm, a module read whole in
    Python (one node), that compiled code runs as its several operations."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.act = nn.ReLU()
        self.lrn = nn.LocalResponseNorm(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.conv(x))
        return self.lrn(self.act(x + 1.0))


@pytest.mark.parametrize("kind", ["script", "trace", "export"])
def test_compiled_operations_are_named_as_the_python_models_layers(kind: str) -> None:
    model = _Twice().eval()
    if kind == "export":
        compiled: nn.Module = torch.export.export(model, (torch.rand(SHAPE),)).module()
    else:
        compiled = _compiled(kind, model)
    names = [n.name for n in trace_torch(compiled, SHAPE).nodes]
    # a module read whole: its path; called again: made unique as the Python trace does
    assert names[:5] == ["input", "conv", "act", "add", "act_1"]
    assert names[:5] == [n.name for n in trace_torch(model, SHAPE).nodes][:5]
    # several operations of one module read whole: each named by its operation under it
    inside = [n for n in names if n.startswith("lrn")]
    assert len(inside) > 2 and all(n.startswith("lrn.") for n in inside), inside
    assert [n.name for n in trace_torch(model, SHAPE).nodes][5:] == ["lrn"]


class _TwoLists(nn.Module):
    """Two module lists iterated together: TorchScript records their items without the
    list (``0(Conv2d)``, ``0(BatchNorm2d)``), so the class it records tells which list."""

    def __init__(self) -> None:
        super().__init__()
        self.convs = nn.ModuleList([nn.Conv2d(3, 3, 3, padding=1) for _ in range(2)])
        self.norms = nn.ModuleList([nn.BatchNorm2d(3) for _ in range(2)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv, norm in zip(self.convs, self.norms):  # noqa: B905 (TorchScript's zip)
            x = norm(conv(x))
        return x


def test_items_of_lists_the_record_leaves_out_are_found_by_their_class() -> None:
    model = _TwoLists().eval()
    names = [n.name for n in trace_torch(_compiled("script", model), SHAPE).nodes]
    assert names == [n.name for n in trace_torch(model, SHAPE).nodes]
    assert names[1:] == ["convs.0", "norms.0", "convs.1", "norms.1"]


class _Attention(nn.Module):
    def __init__(self, weights: bool) -> None:
        super().__init__()
        self.mha, self.weights = nn.MultiheadAttention(16, 2, batch_first=True), weights

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.mha(x, x, x, need_weights=self.weights)
        return out


@pytest.mark.parametrize("weights", [False, True])
def test_attention_traced_on_its_fast_path_counts_as_in_python(weights: bool) -> None:
    """``torch.jit.trace`` in eval under ``no_grad`` records ``nn.MultiheadAttention``'s fast
    path, one ``_native_multi_head_attention`` call (ViT-B/16 traced so was 36% short of its
    MACs): read as the Python forward's ``F.multi_head_attention_forward``."""
    model, x = _Attention(weights).eval(), torch.rand(2, 5, 16)
    with torch.no_grad():
        traced = _round_trip(torch.jit.trace(model, x))
    graph, expected = trace_torch(traced, [(2, 5, 16)]), trace_torch(model, [(2, 5, 16)])
    assert "_native_multi_head_attention" in str(traced.inlined_graph)
    assert _costs(graph) == _costs(expected) and not graph.uncounted
