"""Tensors a forward returns wherever it puts them: in a dataclass or a namespace of its own
(their fields are its outputs, as a tuple's items are), computed from parameters alone (a
learned scale or queries returned beside the features), or the input itself (``nn.Identity``).
Until 2026-12-07 the first two were not seen as returned (the last node made was the output,
coverage 25% where 100% is read, parameters reported unused) and the third had no row."""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn

import stridescope
from stridescope.frontends import load_graph


@dataclasses.dataclass
class Out:
    skip: torch.Tensor
    main: torch.Tensor


PACKS: dict[str, Callable[[torch.Tensor, torch.Tensor], Any]] = {
    "tuple": lambda skip, main: (skip, main),
    "dataclass": Out,
    "namespace": lambda skip, main: types.SimpleNamespace(skip=skip, main=main),
    "dataclass in a list": lambda skip, main: [Out(skip, main)],
}


class TwoPaths(nn.Module):
    """A 1x1 stride-2 path it returns first, computed after a 3x3 one it returns second."""

    def __init__(self, pack: Callable[[torch.Tensor, torch.Tensor], Any]) -> None:
        super().__init__()
        self.main = nn.Conv2d(3, 4, 3, stride=2, padding=1)
        self.skip = nn.Conv2d(3, 4, 1, stride=2)
        self.pack = pack

    def forward(self, x: torch.Tensor) -> Any:
        main = self.main(x)
        return self.pack(self.skip(x), main)


@pytest.mark.parametrize("pack", list(PACKS))
def test_a_forward_s_own_container_holds_its_outputs(pack: str) -> None:
    model = TwoPaths(PACKS[pack])
    summary = stridescope.summary(model, (1, 3, 16, 16))
    assert summary.input_coverage == 1.0  # (the 3x3 path reads every pixel)
    graph = load_graph(model, (1, 3, 16, 16))
    assert graph.output.name == "skip"
    assert [graph.nodes[i].name for i in graph.returned] == ["main"]
    codes = [f.code for f in stridescope.lint(model, (1, 3, 16, 16)).findings]
    assert "DS202" not in codes  # (no input unread)


class Queries(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.queries = nn.Parameter(torch.randn(1, 6, 8))
        self.scale = nn.Parameter(torch.tensor(2.6))
        self.proj = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> Any:
        return self.queries.expand(x.shape[0], -1, -1), self.proj(x), self.scale.exp()


def test_tensors_computed_from_parameters_alone_are_returned() -> None:
    model = Queries()
    summary = stridescope.summary(model, (2, 5, 8))
    assert summary.totals.params == sum(p.numel() for p in model.parameters())
    assert not any("not used" in n for n in summary.notes)
    graph = load_graph(model, (2, 5, 8))
    assert graph.output.output_shape == (2, 6, 8)  # (the first tensor returned)
    assert [graph.nodes[i].output_shape for i in graph.returned] == [(2, 5, 8), ()]


@pytest.mark.parametrize("model", [nn.Identity(), nn.Sequential(nn.Identity(), nn.Identity())])
def test_a_forward_that_returns_its_input_has_an_output_row(model: nn.Module) -> None:
    summary = stridescope.summary(model, (1, 3, 8, 8))
    assert [(r.path, r.output_shape) for r in summary.layers] == [("output", (1, 3, 8, 8))]
    assert summary.layers[0].rf_size == (1, 1) and summary.input_coverage == 1.0


class Hidden(nn.Module):
    """Layers kept where ``nn.Module`` does not register them: a plain list, a dict, and one
    made in the forward."""

    def __init__(self) -> None:
        super().__init__()
        self.first = nn.Linear(8, 4)
        self.kept = [nn.Linear(4, 2)]
        self.table = {"last": nn.Linear(2, 2)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.table["last"](self.kept[0](self.first(x)))
        return y + nn.Linear(2, 2)(y)


def test_modules_outside_the_model_s_tree_are_counted_and_named() -> None:
    model = Hidden()
    summary = stridescope.summary(model, (2, 8))
    assert summary.totals.params == 36 + 10 + 6 + 6  # (what the forward computes with)
    assert sum(p.numel() for p in model.parameters()) == 36
    (note,) = [n for n in summary.notes if "not sub-modules of the model" in n]
    assert note.startswith("22 parameters counted are of 3 modules") and "(Linear)" in note
    assert "not in model.parameters()" in note
    plain = stridescope.summary(
        nn.Sequential(nn.Linear(8, 4), nn.ModuleList([nn.Linear(4, 2)])[0]), (2, 8)
    )
    assert not any("sub-modules" in n for n in plain.notes)
