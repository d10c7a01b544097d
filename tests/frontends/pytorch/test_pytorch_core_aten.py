"""Models in core ATen, as ``torch.export``'s ``run_decompositions`` leaves them: the norms
return their statistics beside their output (``native_layer_norm``,
``_native_batch_norm_legit_no_training``, ``native_group_norm``), softmax is its kernel
(``_softmax``), padding is ``constant_pad_nd``, adaptive average pooling ``_adaptive_avg_pool2d``
and every convolution ``convolution``, including one on parameters and constants alone (a
Fourier position encoding's projection). Each is read as the function it stands for, so the
decomposed model counts what the model it came from counts."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from stridescope.analysis.coverage import coverage_fraction
from stridescope.frontends.pytorch import trace_torch
from stridescope.ir import Graph, OpKind

SHAPE = (1, 3, 16, 16)


class _Encoding(nn.Module):
    """A position encoding made from a coordinate grid and projected by a 1x1 conv: a
    product on constants and parameters alone (in the decomposed graph, a ``convolution``
    in the forward of a model with parameters of its own: the parameter mode runs it)."""

    def __init__(self) -> None:
        super().__init__()
        self.project = nn.Conv2d(4, 8, 1)

    def forward(self, h: int, w: int) -> torch.Tensor:
        ys = torch.arange(h, dtype=torch.float32).view(1, 1, h, 1).expand(1, 2, h, w)
        xs = torch.arange(w, dtype=torch.float32).view(1, 1, 1, w).expand(1, 2, h, w)
        return self.project(torch.cat([ys.sin(), xs.cos()], dim=1))


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, stride=2)
        self.bn = nn.BatchNorm2d(8)
        self.gn = nn.GroupNorm(2, 8)
        self.ln = nn.LayerNorm(8)
        self.encoding = _Encoding()
        self.pool = nn.AdaptiveAvgPool2d(2)
        self.head = nn.Linear(32, 5)
        self.scale = nn.Parameter(torch.ones(8, 1, 1))  # (a parameter of the model's own)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn(self.conv(F.pad(x, (1, 1, 1, 1)))) * self.scale
        x = self.gn(x) + self.encoding(x.shape[2], x.shape[3])
        x = self.ln(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        x = x.flatten(2).softmax(-1).log_softmax(-1).view_as(x)
        return self.head(self.pool(x).flatten(1))


def _decomposed(model: nn.Module) -> nn.Module:
    program = torch.export.export(model, (torch.rand(SHAPE),)).run_decompositions()
    return program.module()


def _ops(graph: Graph) -> set[str]:
    return {n.op for n in graph.nodes}


def test_a_decomposed_model_counts_what_the_model_counts() -> None:
    model = _Net().eval()
    decomposed = _decomposed(model)
    graph, original = trace_torch(decomposed, SHAPE), trace_torch(model, SHAPE)
    ops = _ops(graph)  # (the graph really is in core ATen)
    assert {"_native_batch_norm_legit_no_training", "native_layer_norm", "_softmax"} <= ops
    assert {"native_group_norm", "constant_pad_nd", "convolution"} <= ops
    assert not graph.uncounted, [(n.name, n.op) for n in graph.uncounted]
    assert graph.params == original.params == sum(p.numel() for p in model.parameters())
    assert graph.macs == original.macs
    encoding = 8 * 8 * 8 * 4  # the projection's MACs: 8x8 positions, 8 outputs of 4 inputs
    assert sum(n.macs for n in graph.nodes if not n.parents and n.kind is not OpKind.INPUT) == (
        encoding
    )
    assert graph.output.output_shape == original.output.output_shape == (1, 5)
    assert coverage_fraction(graph) == coverage_fraction(original) == 1.0


def test_a_decomposed_pad_reads_as_f_pad() -> None:
    class Crop(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return F.avg_pool2d(F.pad(x, (0, -4, 0, -4)), 1, stride=2)  # the top-left only

    graph = trace_torch(_decomposed(Crop()), SHAPE)
    pads = [n for n in graph.nodes if n.op == "constant_pad_nd"]
    assert [n.kind for n in pads] == [OpKind.PAD] and not graph.uncounted
    assert graph.output.output_shape == (1, 3, 6, 6)
    assert coverage_fraction(graph) == pytest.approx(36 / 256)


class _Native(nn.Module):
    """The native norms called directly: (output, mean, rstd)."""

    def __init__(self) -> None:
        super().__init__()
        self.weight, self.bias = nn.Parameter(torch.ones(6)), nn.Parameter(torch.zeros(6))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out, mean, rstd = torch.native_layer_norm(x, [6], self.weight, self.bias, 1e-5)
        grouped, g_mean, g_rstd = torch.native_group_norm(
            x.transpose(1, 3).contiguous(), self.weight, self.bias, 2, 6, 4 * 5, 3, 1e-5
        )
        return out * rstd + mean, grouped, g_mean, g_rstd


def test_native_norms_return_their_statistics_with_the_shapes_torch_gives() -> None:
    model = _Native()
    x = torch.rand(2, 4, 5, 6)
    graph = trace_torch(model, tuple(x.shape))
    returned = [graph.output, *(graph.nodes[i] for i in graph.returned)]
    assert [n.output_shape for n in returned] == [tuple(t.shape) for t in model(x)]
    norms = [n for n in graph.nodes if n.kind is OpKind.NORM]
    assert [n.op for n in norms] == ["native_layer_norm", "native_group_norm"]
    assert graph.params == 12 and norms[0].params == 12  # (counted where first used)
    stats = [n.name for n in graph.nodes if n.kind is OpKind.REDUCE]
    assert stats == [
        "native_layer_norm.mean",
        "native_layer_norm.rstd",
        "native_group_norm.mean",
        "native_group_norm.rstd",
    ]
    assert not graph.uncounted


def test_conjugate_transposes_move_axes() -> None:
    class Adjoint(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.mH @ x[0, 0].H.H  # (2, 3, 5, 4) @ (4, 5)

    graph = trace_torch(Adjoint(), (2, 3, 4, 5))
    assert graph.output.output_shape == (2, 3, 5, 5) and not graph.uncounted
    assert graph.output.macs == 2 * 3 * 5 * 5 * 4  # one product of 4 per output element


class _Kernels(nn.Module):
    """ATen kernels called directly: an antialiased resize and a 3-D grid sample."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        small = torch.ops.aten._upsample_bilinear2d_aa.default(x[:, :, 0], [7, 9], False, None)
        grid = torch.zeros(1, 2, 3, 4, 3)
        return small, torch.grid_sampler_3d(x, grid, 0, 0, False)


class _Functions(nn.Module):
    """The same with the functions they stand for."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        small = F.interpolate(x[:, :, 0], size=(7, 9), mode="bilinear", antialias=True)
        grid = torch.zeros(1, 2, 3, 4, 3)
        return small, F.grid_sample(x, grid, align_corners=False)


def test_resampling_kernels_read_as_their_functions() -> None:
    shape = (1, 2, 5, 16, 16)
    graph, expected = trace_torch(_Kernels(), shape), trace_torch(_Functions(), shape)
    assert not graph.uncounted, [(n.name, n.op) for n in graph.uncounted]
    facts = [(n.kind, n.output_shape, n.macs, n.resample) for n in graph.nodes]
    assert facts == [(n.kind, n.output_shape, n.macs, n.resample) for n in expected.nodes]
    resized = next(n for n in graph.nodes if n.kind is OpKind.INTERPOLATE)
    assert resized.output_shape == (1, 2, 7, 9) and resized.resample is not None


class _Trained(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv, self.bn = nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)
        self.drop = nn.Dropout(0.25)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.bn(self.conv(x)))


@pytest.mark.parametrize("decompose", [False, True])
def test_a_training_graph_is_counted_and_leaves_its_buffers_as_they_were(decompose: bool) -> None:
    """Exported in training mode, the graph updates the norm's running statistics and batch
    counter in place (``add_``, ``copy_``; decomposed, ``_native_batch_norm_legit_functional``
    returns the new statistics): counted as the model, and the buffers are put back."""
    model = _Trained().train()
    shape = (2, 3, 8, 8)
    program = torch.export.export(model, (torch.rand(shape),))
    exported = (program.run_decompositions() if decompose else program).module()
    before = {k: v.clone() for k, v in exported.state_dict().items()}
    graph = trace_torch(exported, shape)
    assert not graph.uncounted, [(n.name, n.op) for n in graph.uncounted]
    assert graph.params == 4 * 3 * 9 + 4 + 8 and graph.macs == trace_torch(model, shape).macs
    after = exported.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # (the batch counter too)


def test_a_training_graph_keeps_dropout_and_its_mask() -> None:
    """Decomposed in training mode, ``F.dropout`` is ``native_dropout``: ``(out, mask)``, a
    dropout node and a bool mask of the input's shape (it was uncounted)."""
    shape = (2, 3, 8, 8)
    program = torch.export.export(_Trained().train(), (torch.rand(shape),))
    graph = trace_torch(program.run_decompositions().module(), shape)
    dropout, mask = [n for n in graph.nodes if n.op == "native_dropout"]
    assert dropout.kind is mask.kind is OpKind.DROPOUT and mask.parents == (dropout.id,)
    assert dropout.output_shape == mask.output_shape == (2, 4, 6, 6)
    assert mask.activation_bytes == 2 * 4 * 6 * 6  # (one byte a flag)
