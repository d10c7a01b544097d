"""Models prepared for quantization (``torch.ao.quantization``'s ``prepare`` and
``prepare_qat``, eager and FX): ``prepare`` puts an observer after each layer, which read the
output's values (``HistogramObserver``: ``min_val.item()``) and so stopped the trace;
``prepare_qat``'s fake quantizers called ``torch.fused_moving_avg_obs_fake_quant``, uncounted,
after which every receptive field was ``?``. An observer now returns its input (no node: the
observed model is the float model), a fake quantizer is a position-wise node (0 MACs; a
learnable one's scale and zero point counted as its parameters), and the fake quantizing
functions called directly are position-wise too."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.ao.quantization as tq
from torch import nn
from torch.ao.quantization._learnable_fake_quantize import _LearnableFakeQuantize
from torch.ao.quantization.quantize_fx import prepare_fx, prepare_qat_fx

import stridescope
from stridescope.frontends import load_graph
from tests.frontends.pytorch.applied import Apply

SHAPE = (1, 3, 16, 16)


class Net(nn.Module):
    """A stub, a conv, a norm and a ReLU (to fuse), a mean, a linear layer, a stub."""

    def __init__(self) -> None:
        super().__init__()
        self.quant, self.dequant = tq.QuantStub(), tq.DeQuantStub()
        self.conv = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.relu = nn.ReLU()
        self.fc = nn.Linear(8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn(self.conv(self.quant(x))))
        return self.dequant(self.fc(x.mean((2, 3))))


def _eager_ptq(model: nn.Module) -> nn.Module:
    model.eval().qconfig = tq.get_default_qconfig("x86")
    return tq.prepare(tq.fuse_modules(model, [["conv", "bn", "relu"]]))


def _eager_qat(model: nn.Module) -> nn.Module:
    model.train().qconfig = tq.get_default_qat_qconfig("x86")
    return tq.prepare_qat(tq.fuse_modules_qat(model, [["conv", "bn", "relu"]]))


def _fx_ptq(model: nn.Module) -> nn.Module:
    mapping = tq.get_default_qconfig_mapping("x86")
    return prepare_fx(model.eval(), mapping, (torch.randn(SHAPE),))


def _fx_qat(model: nn.Module) -> nn.Module:
    mapping = tq.get_default_qat_qconfig_mapping("x86")
    return prepare_qat_fx(model.train(), mapping, (torch.randn(SHAPE),))


PREPARED: dict[str, Callable[[nn.Module], nn.Module]] = {
    "prepare": _eager_ptq,
    "prepare_qat": _eager_qat,
    "prepare_fx": _fx_ptq,
    "prepare_qat_fx": _fx_qat,
}


@pytest.mark.parametrize("label", sorted(PREPARED))
def test_a_prepared_model_summarises_whole(label: str) -> None:
    model = PREPARED[label](copy.deepcopy(Net()))
    summary = stridescope.summary(model, input_shape=SHAPE)
    assert summary.totals.uncounted == ()
    assert summary.totals.params == sum(p.numel() for p in model.parameters())
    assert all(row.rf_note != "?" for row in summary.layers), label
    with torch.no_grad():
        expected = tuple(model.eval()(torch.randn(SHAPE)).shape)
    assert summary.layers[-1].output_shape == expected


def test_an_observed_model_is_the_fused_float_model() -> None:
    """``prepare`` after fusion: the observers make no node, so the graph is the fused
    model's, node for node."""
    fused = tq.fuse_modules(copy.deepcopy(Net()).eval(), [["conv", "bn", "relu"]])
    observed = load_graph(_eager_ptq(copy.deepcopy(Net())), SHAPE)
    plain = load_graph(fused, SHAPE)
    assert [(n.kind, n.output_shape, n.macs) for n in observed.nodes] == [
        (n.kind, n.output_shape, n.macs) for n in plain.nodes
    ]


def test_a_learnable_fake_quantizer_counts_its_scale_and_zero_point() -> None:
    quantizer = _LearnableFakeQuantize(
        observer=tq.MovingAverageMinMaxObserver, quant_min=0, quant_max=255
    )
    model = nn.Sequential(nn.Conv2d(3, 4, 1), quantizer)
    graph = load_graph(model, SHAPE)
    assert graph.params == 16 + 2 == sum(p.numel() for p in model.parameters())
    assert graph.output.kind == "activation" and graph.output.macs == 0


@pytest.mark.parametrize(
    "call",
    [
        lambda x: torch.fake_quantize_per_tensor_affine(x, 0.1, 0, 0, 255),
        lambda x: torch.fake_quantize_per_channel_affine(
            x, torch.ones(3), torch.zeros(3, dtype=torch.int32), 1, 0, 255
        ),
    ],
)
def test_fake_quantizing_functions_are_position_wise(call: Callable[..., torch.Tensor]) -> None:
    graph = load_graph(Apply(call), SHAPE)
    assert not graph.uncounted
    assert graph.output.output_shape == SHAPE and graph.output.kind == "activation"


def test_learnable_fake_quantizers_on_weights_keep_the_fields() -> None:
    """Learnable fake quantizers on the outputs and on the weights (LSQ-style QAT): one on a
    weight runs as torch runs it, its result a weight computed from parameters, so the conv
    is a conv (its field known), and every parameter counts once."""

    def learnable(**kw: Any) -> Any:
        return _LearnableFakeQuantize.with_args(observer=tq.MovingAverageMinMaxObserver, **kw)

    model = Net().train()
    model.qconfig = tq.QConfig(
        activation=learnable(quant_min=0, quant_max=255),
        weight=learnable(quant_min=-128, quant_max=127, dtype=torch.qint8),
    )
    prepared = tq.prepare_qat(model)
    summary = stridescope.summary(prepared, input_shape=SHAPE)
    assert summary.totals.uncounted == ()
    assert summary.totals.params == sum(p.numel() for p in prepared.parameters())
    conv = next(r for r in summary.layers if r.kind == "conv")
    assert conv.rf_size == (3, 3) and conv.macs == 8 * 27 * 64
    assert all(row.rf_note != "?" for row in summary.layers)
