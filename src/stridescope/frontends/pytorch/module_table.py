"""The table of ``nn.Module`` types the PyTorch frontend reads from their attributes instead of
tracing their forward; the handlers are in :mod:`stridescope.frontends.pytorch.handlers.modules`.

The table is keyed by the class's ``forward`` function, so a subclass that keeps the forward
(``nn.UpsamplingNearest2d``) is read the same way, while a subclass that overrides it (a conv
that standardises its weight, a conv that pads dynamically) is traced through its forward.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from stridescope.frontends.pytorch.handler_specs import ModuleHandler
from stridescope.frontends.pytorch.handlers import modules, recurrent
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


def _build() -> dict[Any, ModuleHandler]:
    table: dict[Any, ModuleHandler] = {}
    for handler, names in _rows():
        for name in names.split():
            cls = getattr(nn, name, None)
            if cls is not None:  # None: not in this torch version
                table.setdefault(cls.forward, handler)
    return table


MODULES: dict[Any, Callable[..., Any]] = _build()
