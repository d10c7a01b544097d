"""Every ``nn`` module in PyTorch's own module database (``module_db``: each layer class with
the constructor arguments and inputs torch's tests use), summarised as a model holding it:
the output's shape is torch's, every parameter is counted, and no op is left uncounted,
except the refusals and losses listed here with their reason.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
import torch
from torch import nn

import stridescope
from stridescope.errors import StridescopeError

common = pytest.importorskip("torch.testing._internal.common_modules")

_LOOKED = 6  # the first samples of each module
# (a sample input without a batch axis, (C, L) or (C, H, W), is refused: a model's input is
# batch first, so the layer says what it expects)
# losses the cost model does not read: uncounted
_LOSS = "loss"
_EXPECTED = {
    "nn.CTCLoss": _LOSS,  # (no meta kernel in torch: its shape from stand-in runs)
    "nn.LinearCrossEntropyLoss": _LOSS,
}


class _Holding(nn.Module):
    """A model whose forward calls ``layer(x, *rest)`` and returns its (first) output."""

    def __init__(self, layer: nn.Module, rest: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        super().__init__()
        self.layer, self.rest, self.kwargs = layer, rest, kwargs

    def forward(self, x: Any) -> Any:
        out = self.layer(x, *self.rest, **self.kwargs)
        while isinstance(out, tuple | list):
            out = out[0]
        return out + 0


def _cases() -> Iterator[tuple[str, nn.Module, torch.Tensor]]:
    warnings.simplefilter("ignore")
    for info in common.module_db:
        if torch.float32 not in info.dtypes:
            continue
        made = info.module_inputs_func(
            info, device="cpu", dtype=torch.float32, requires_grad=False, training=False
        )
        for sample in itertools.islice(made, _LOOKED):
            args, kwargs = sample.forward_input.args, sample.forward_input.kwargs
            x = args[0] if args else None
            if not isinstance(x, torch.Tensor) or x.dtype != torch.float32 or x.numel() == 0:
                continue
            try:
                made_layer = info.module_cls(
                    *sample.constructor_input.args, **sample.constructor_input.kwargs
                )
            except Exception:  # a layer this machine cannot build
                continue
            if x.ndim >= 2:
                yield info.name, _Holding(made_layer.eval(), args[1:], kwargs).eval(), x


CASES = list(_cases())


def test_the_database_is_read() -> None:
    names = {name for name, _, _ in CASES}
    assert len(CASES) > 300 and len(names) > 100
    assert {"nn.Conv2d", "nn.MultiheadAttention", "nn.TransformerEncoderLayer"} <= names


def test_every_module_is_summarised_as_torch_runs_it() -> None:
    wrong, uncounted = [], []
    for name, model, x in CASES:
        try:
            with torch.no_grad():
                real = model(x.clone())
        except Exception:  # torch refuses this sample too
            continue
        if not isinstance(real, torch.Tensor):
            continue
        try:
            summary = stridescope.summary(model, input_shape=tuple(x.shape))
        except StridescopeError as error:  # (an input without its batch axis: read as torch
            if name not in _EXPECTED:  # reads it, a batch of one, since 2026-12-07)
                wrong.append((name, tuple(x.shape), str(error)))
            continue
        if summary.layers[-1].output_shape != tuple(real.shape):
            wrong.append((name, tuple(x.shape), summary.layers[-1].output_shape, real.shape))
        if summary.totals.params != sum(p.numel() for p in model.parameters()):
            wrong.append((name, tuple(x.shape), summary.totals.params))
        if any(r.kind == "uncounted" for r in summary.layers) and _EXPECTED.get(name) != _LOSS:
            uncounted.append((name, tuple(x.shape)))
    assert not wrong
    assert not uncounted
