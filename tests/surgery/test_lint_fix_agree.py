"""What lint says a fix costs is what ``fix`` does, on the model lint reads.

Every finding lint prices (``finding.fix``) is a change of ``fix`` with the same policy, at the
same Δparams and ΔMACs summed over the finding's layers; a finding whose layers ``fix`` leaves
as they are gets no price. Before, lint priced each layer on the IR alone: it priced layers
``fix`` cannot swap (a functional ``F.max_pool2d``, a hooked or weight-normed conv, a max pool
that returns its indices, on which ``fix`` raised), gave a TensorFlow-"same" conv subclass the
plan's price where ``fix`` measures the copy it builds (whose own padding computes a row and
a column more), and named no policy for a layer called a second time, which ``fix`` swaps."""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import stridescope
from stridescope.analysis.lint import POLICIES
from stridescope.surgery import fix_estimate
from stridescope.surgery.torch_apply import layer_check

SHAPE = (1, 3, 32, 32)


class _SameConv(nn.Conv2d):
    """Pads as TensorFlow's "same" does, by the stride, in its own forward."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, k, s in zip(
            x.shape[:1:-1], self.kernel_size[::-1], self.stride[::-1], strict=True
        ):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        return F.conv2d(F.pad(x, pads), self.weight, self.bias, self.stride)


class _Functional(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, 1, 1)
        self.head = nn.Conv2d(8, 8, 3, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(F.max_pool2d(self.stem(x), 3, 2))


class _Unpooled(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, 1, 1)
        self.pool = nn.MaxPool2d(2, 2, return_indices=True)
        self.unpool = nn.MaxUnpool2d(2, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y, where = self.pool(self.conv(x))
        return self.unpool(y, where)


def _hooked() -> nn.Module:
    model = nn.Sequential(nn.Conv2d(3, 8, 3, 1, 1), nn.Conv2d(8, 8, 1, 2), nn.Conv2d(8, 8, 3, 2))
    model[1].register_forward_hook(lambda m, i, o: o)
    nn.utils.parametrizations.weight_norm(model[2])
    return model


def _twice() -> nn.Module:
    down = nn.Conv2d(8, 8, 1, 2)
    return nn.Sequential(nn.Conv2d(3, 8, 3, 1, 1), down, nn.ReLU(), down)


_MODELS: dict[str, Callable[[], nn.Module]] = {
    "same-padded conv subclass": lambda: nn.Sequential(
        _SameConv(3, 8, 3, 2), nn.ReLU(), _SameConv(8, 8, 5, 2)
    ),
    "functional max pool": _Functional,
    "max pool returning indices": _Unpooled,
    "hooked and weight-normed convs": _hooked,
    "a conv called twice": _twice,
}


@pytest.mark.parametrize("name", sorted(_MODELS))
def test_every_price_lint_quotes_is_what_fix_does(name: str) -> None:
    model = _MODELS[name]().eval()
    report = stridescope.lint(model, input_shape=SHAPE)
    graph = stridescope.frontends.load_graph(model, SHAPE)
    fixed, after = {}, {}
    for policy in {f.policy for f in report.findings if f.policy is not None}:
        done = stridescope.fix(model, policy, input_shape=SHAPE)  # (never raises)
        fixed[policy] = {c.layer: (c.delta_params, c.delta_macs) for c in done.changes}
        again = stridescope.lint(done.model, input_shape=SHAPE).findings
        after[policy] = {(f.code, f.layer) for f in again}
    for finding in report.findings:
        if finding.policy is None:
            continue
        layers = [graph.nodes[i].name for i in finding.nodes]
        changes = fixed[finding.policy]
        if finding.fix is None:  # left as it is, or swapped without removing the finding
            stays = any(
                code == finding.code and str(layer).startswith(tuple(layers))
                for code, layer in after[finding.policy]
            )
            assert not all(layer in changes for layer in layers) or stays, finding
            continue
        assert all(layer in changes for layer in layers), (finding.code, layers, changes)
        params = sum(changes[layer][0] for layer in layers)
        macs = sum(changes[layer][1] for layer in layers)
        assert (finding.fix.delta_params, finding.fix.delta_macs) == (params, macs), finding


def test_the_prices_the_models_above_get() -> None:
    """What the oracle above rests on: each model has priced findings, and what fix leaves
    is unpriced (not every finding trivially None)."""
    priced = {
        name: sorted(
            (f.code, f.layer, f.fix is not None)
            for f in stridescope.lint(build().eval(), input_shape=SHAPE).findings
            if f.policy is not None and f.layer is not None
        )
        for name, build in _MODELS.items()
    }
    assert ("DS401", "0.conv2d", True) in priced["same-padded conv subclass"]
    assert ("DS401", "max_pool2d", False) in priced["functional max pool"]
    assert ("DS401", "head", True) in priced["functional max pool"]
    assert ("DS101", "1", False) in priced["hooked and weight-normed convs"]
    assert ("DS101", "1_1", True) in priced["a conv called twice"]
    assert all(
        layer != "pool.max_pool2d_with_indices"
        for _, layer, _ in priced["max pool returning indices"]
    )


class _Residual(nn.Module):
    """A 1x1 stride-2 shortcut added to a 3x3 stride-2 pad-1 main path (ResNet v1)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, 1, 1)
        self.main = nn.Conv2d(8, 16, 3, 2, 1)
        self.short = nn.Conv2d(8, 16, 1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        return self.main(x) + self.short(x)


class _Fuse(nn.Module):
    """HRNet's fuse: one low-resolution map upsampled 4x then brought down by two 3x3
    stride-2 convs, and upsampled 2x then brought down by one, added. After a nearest
    upsampling the fields repeat in phases: a conv at stride 1 then a blur at stride 2 read
    other coarse positions than the strided conv (lint then finds the branches 2 px apart)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, 1, 1)
        self.a1, self.a2 = nn.Conv2d(8, 8, 3, 2, 1), nn.Conv2d(8, 8, 3, 2, 1)
        self.b1 = nn.Conv2d(8, 8, 3, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        low = F.avg_pool2d(F.relu(self.stem(x)), 4)
        a = self.a2(F.relu(self.a1(F.interpolate(low, scale_factor=4))))
        return a + self.b1(F.interpolate(low, scale_factor=2))


_BRINGING: dict[str, Callable[[], nn.Module]] = {
    "upsampled branches": _Fuse,
    "residual": _Residual,
    "stride 4": lambda: nn.Sequential(nn.Conv2d(3, 8, 3, 1, 1), nn.Conv2d(8, 16, 1, 4)),
    "stride 4, 3x3": lambda: nn.Sequential(nn.Conv2d(3, 8, 3, 1, 1), nn.Conv2d(8, 16, 3, 4, 1)),
    "padded stem": lambda: nn.Sequential(nn.ZeroPad2d(3), nn.Conv2d(3, 8, 7, 2)),
}


@pytest.mark.parametrize("name", sorted(_BRINGING))
def test_what_a_fix_brings_is_what_lint_finds_after_it(name: str) -> None:
    """A price's ``adds`` are the codes found more often once fix swaps that finding's layers
    (a ResNet-D, space-to-depth or APS shortcut against a 3x3 stride-2 main path: DS301; a
    blur of 4 taps at stride 4 that never reaches the last row, or one before a stem conv
    whose dropped row was padding before: DS201); the prices that bring none, nothing. Every
    policy is priced on every finding of a layer, not only the one lint names."""
    shape = (1, 3, 64, 64)
    model = _BRINGING[name]().eval()
    graph = stridescope.frontends.load_graph(model, shape)
    before = stridescope.lint(model, input_shape=shape).findings
    counts = Counter(f.code for f in before)
    brought = set()
    for finding, policy in itertools.product(before, POLICIES):
        if finding.layer is None or finding.policy is None:
            continue
        price = fix_estimate(graph, replace(finding, policy=policy), check=layer_check(model))
        if price is None:
            continue
        fixed = stridescope.fix(model, policy, select=[finding.layer], input_shape=shape)
        after = Counter(f.code for f in stridescope.lint(fixed.model, input_shape=shape).findings)
        rose = sorted(code for code in after if after[code] > counts[code])
        assert list(price.adds) == rose, (finding.code, finding.layer, policy)
        brought.update((policy, code) for code in rose)
    assert brought == _BROUGHT[name]


_BROUGHT = {
    "upsampled branches": {("blurpool", "DS301"), ("blurpool-first", "DS301")},
    "residual": {("resnet-d", "DS301"), ("s2d", "DS301"), ("aps", "DS301")},
    "stride 4": {("blurpool", "DS201"), ("blurpool-first", "DS201")},
    "stride 4, 3x3": set(),
    "padded stem": {("blurpool-first", "DS201")},
}
