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
from stridescope.frontends.pytorch.handlers import modules
from stridescope.ir import OpKind

__all__ = ["MODULES"]


def _build() -> dict[Any, ModuleHandler]:
    table: dict[Any, ModuleHandler] = {}

    def add(handler: ModuleHandler, *classes: type[nn.Module]) -> None:
        for cls in classes:
            table.setdefault(cls.forward, handler)

    add(modules.conv, nn.Conv1d, nn.Conv2d, nn.Conv3d)
    add(modules.conv_transpose, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
    add(modules.linear, nn.Linear)
    add(modules.norm, nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)
    add(modules.norm, nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d)
    add(modules.pointwise(OpKind.NORM), nn.GroupNorm, nn.LayerNorm, nn.LocalResponseNorm)
    activations: tuple[type[nn.Module], ...] = (
        nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU,
        nn.Mish, nn.Sigmoid, nn.Tanh, nn.Hardswish, nn.Hardsigmoid, nn.Hardtanh, nn.Softmax,
        nn.LogSoftmax, nn.Softplus, nn.Softsign, nn.LogSigmoid,
    )  # fmt: skip
    add(modules.pointwise(OpKind.ACTIVATION), *activations)
    add(modules.pointwise(OpKind.DROPOUT), nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d)
    add(modules.pointwise(OpKind.DROPOUT), nn.AlphaDropout, nn.FeatureAlphaDropout)
    for rank, classes in enumerate(
        (
            (nn.MaxPool1d, nn.AvgPool1d, nn.AdaptiveMaxPool1d, nn.AdaptiveAvgPool1d),
            (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveMaxPool2d, nn.AdaptiveAvgPool2d),
            (nn.MaxPool3d, nn.AvgPool3d, nn.AdaptiveMaxPool3d, nn.AdaptiveAvgPool3d),
        ),
        start=1,
    ):
        add(modules.pool("max", rank), classes[0])
        add(modules.pool("avg", rank), classes[1])
        add(modules.adaptive("max", rank), classes[2])
        add(modules.adaptive("avg", rank), classes[3])
    add(modules.flatten, nn.Flatten)
    add(modules.identity, nn.Identity)
    add(modules.pixel_unshuffle, nn.PixelUnshuffle)
    add(modules.pixel_shuffle, nn.PixelShuffle)
    add(modules.upsample, nn.Upsample)
    pads: tuple[type[nn.Module], ...] = (
        nn.ZeroPad1d, nn.ZeroPad2d, nn.ZeroPad3d, nn.ConstantPad1d, nn.ConstantPad2d,
        nn.ConstantPad3d, nn.ReflectionPad1d, nn.ReflectionPad2d, nn.ReflectionPad3d,
        nn.ReplicationPad1d, nn.ReplicationPad2d, nn.ReplicationPad3d, nn.CircularPad1d,
        nn.CircularPad2d, nn.CircularPad3d,
    )  # fmt: skip
    add(modules.pad, *pads)
    return table


MODULES: dict[Any, Callable[..., Any]] = _build()
