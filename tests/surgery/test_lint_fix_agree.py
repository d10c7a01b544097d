"""What lint says a fix costs is what ``fix`` does, on the model lint reads.

Every finding lint prices (``finding.fix``) is a change of ``fix`` with the same policy, at the
same Δparams and ΔMACs summed over the finding's layers; a finding whose layers ``fix`` leaves
as they are gets no price. Before, lint priced each layer on the IR alone: it priced layers
``fix`` cannot swap (a functional ``F.max_pool2d``, a hooked or weight-normed conv, a max pool
that returns its indices, on which ``fix`` raised), gave a TensorFlow-"same" conv subclass the
plan's price where ``fix`` measures the copy it builds (whose own padding computes a row and
a column more), and named no policy for a layer called a second time, which ``fix`` swaps."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import stridescope

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
