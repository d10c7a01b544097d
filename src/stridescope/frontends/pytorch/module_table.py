"""The table of ``nn.Module`` types the PyTorch frontend reads from their attributes instead of
tracing their forward; the handlers are in :mod:`stridescope.frontends.pytorch.handlers.modules`.

The table is keyed by the class's ``forward`` function, so a subclass that keeps the forward
(``nn.UpsamplingNearest2d``) is read the same way, while a subclass that overrides it (a conv
that standardises its weight, a conv that pads dynamically) is traced through its forward.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch.ao.nn.intrinsic.quantized as nniq
import torch.ao.nn.quantized as nnq
import torch.ao.nn.quantized.dynamic as nnqd
import torch.ao.quantization._learnable_fake_quantize as learnable
import torch.ao.quantization.fake_quantize as fake_quantize
import torch.ao.quantization.observer as observer
from torch import nn

from stridescope.frontends.pytorch.handler_specs import ModuleHandler
from stridescope.frontends.pytorch.handlers import modules, quantized, recurrent
from stridescope.ir import OpKind

__all__ = ["MODULES"]


Row = tuple[ModuleHandler, str]
"""A handler and the ``torch.nn`` class names it reads."""

_ACTIVATIONS = (
    "ReLU ReLU6 LeakyReLU PReLU ELU SELU CELU GELU SiLU Mish Sigmoid Tanh Hardswish Hardsigmoid "
    "Hardtanh Softmax LogSoftmax Softplus Softsign LogSigmoid"
)
_DROPOUTS = "Dropout Dropout1d Dropout2d Dropout3d AlphaDropout FeatureAlphaDropout"
_PADS = " ".join(
    f"{kind}Pad{rank}d"
    for kind in ("Zero", "Constant", "Reflection", "Replication", "Circular")
    for rank in (1, 2, 3)
)


def _pools(rank: int) -> list[Row]:
    return [
        (modules.pool("max", rank), f"MaxPool{rank}d"),
        (modules.pool("avg", rank), f"AvgPool{rank}d"),
        (modules.adaptive("max", rank), f"AdaptiveMaxPool{rank}d"),
        (modules.adaptive("avg", rank), f"AdaptiveAvgPool{rank}d"),
    ]


def _rows() -> list[Row]:
    """Every row, in order: the first row that names a class's forward wins."""
    return [
        (modules.conv, "Conv1d Conv2d Conv3d"),
        (modules.conv_transpose, "ConvTranspose1d ConvTranspose2d ConvTranspose3d"),
        (modules.linear, "Linear"),
        (modules.norm, "BatchNorm1d BatchNorm2d BatchNorm3d SyncBatchNorm"),
        (modules.norm, "InstanceNorm1d InstanceNorm2d InstanceNorm3d"),
        (modules.pointwise(OpKind.NORM), "GroupNorm LayerNorm LocalResponseNorm CrossMapLRN2d"),
        (modules.pointwise(OpKind.ACTIVATION), _ACTIVATIONS),
        (modules.pointwise(OpKind.DROPOUT), _DROPOUTS),
        *_pools(1),
        *_pools(2),
        *_pools(3),
        (modules.flatten, "Flatten"),
        (modules.identity, "Identity"),
        (modules.pixel_unshuffle, "PixelUnshuffle"),
        (modules.pixel_shuffle, "PixelShuffle"),
        (modules.upsample, "Upsample"),
        (modules.pad, _PADS),
        (recurrent.recurrent, "RNN LSTM GRU"),
    ]


def _quantized_rows() -> list[tuple[ModuleHandler, str, Any]]:
    """Quantized layers (``torch.ao.quantization``'s ``convert``, ``quantize_dynamic``): a
    handler, the class names, and the package that has them."""
    conv, linear, norm = quantized.conv, quantized.linear, modules.norm
    return [
        (conv, "Conv1d Conv2d Conv3d", nnq),
        (conv, "Conv1d Conv2d Conv3d", nnqd),
        (quantized.conv_transpose, "ConvTranspose1d ConvTranspose2d ConvTranspose3d", nnq),
        (quantized.conv_transpose, "ConvTranspose1d ConvTranspose2d ConvTranspose3d", nnqd),
        (quantized.fused(conv, "ReLU"), "ConvReLU1d ConvReLU2d ConvReLU3d", nniq),
        (linear, "Linear", nnq),
        (linear, "Linear", nnqd),
        (quantized.fused(linear, "ReLU"), "LinearReLU", nniq),
        (quantized.fused(linear, "LeakyReLU"), "LinearLeakyReLU", nniq),
        (quantized.fused(linear, "Tanh"), "LinearTanh", nniq),
        (norm, "BatchNorm2d BatchNorm3d", nnq),
        (quantized.fused(norm, "ReLU"), "BNReLU2d BNReLU3d", nniq),
        (modules.pointwise(OpKind.NORM), "LayerNorm GroupNorm InstanceNorm1d InstanceNorm2d", nnq),
        (modules.pointwise(OpKind.NORM), "InstanceNorm3d", nnq),
        (modules.pointwise(OpKind.ACTIVATION), "Hardswish ELU LeakyReLU ReLU6 Sigmoid", nnq),
        (modules.pointwise(OpKind.ACTIVATION), "Softmax", nnq),
        (quantized.prelu, "PReLU", nnq),
        (modules.pointwise(OpKind.DROPOUT), "Dropout", nnq),
        (quantized.quantize, "Quantize", nnq),  # the element type only
        (quantized.dequantize, "DeQuantize", nnq),
    ]


def _subclasses(cls: type[nn.Module]) -> list[type[nn.Module]]:
    """Every class derived from ``cls`` that is loaded now, ``cls`` first."""
    found = [cls]
    for sub in cls.__subclasses__():
        found += _subclasses(sub)
    return found


def _observers() -> list[tuple[type[nn.Module], ModuleHandler]]:
    """torch's observers and fake quantizers (``torch.ao.quantization``'s ``prepare`` and
    ``prepare_qat`` put them after each layer; ``learnable``'s too), each class with the
    handler that reads it: a class of a model's own that overrides ``forward`` is traced, as
    any other."""
    quantizers: list[type[nn.Module]] = _subclasses(fake_quantize.FakeQuantizeBase)
    quantizers.append(learnable._LearnableFakeQuantize)
    rows: list[tuple[type[nn.Module], ModuleHandler]] = [
        (cls, quantized.observer) for cls in _subclasses(observer.ObserverBase)
    ]
    return rows + [(cls, quantized.fake_quantize) for cls in quantizers]


def _build() -> dict[Any, ModuleHandler]:
    table: dict[Any, ModuleHandler] = {}
    for base, read in _observers():
        if "forward" in base.__dict__:
            table.setdefault(base.forward, read)
    rows = [(handler, names, nn) for handler, names in _rows()] + _quantized_rows()
    for handler, names, package in rows:
        for name in names.split():
            cls = getattr(package, name, None)
            if cls is not None:  # None: not in this torch version
                table.setdefault(cls.forward, handler)
    return table


MODULES: dict[Any, Callable[..., Any]] = _build()
