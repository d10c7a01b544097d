"""``torch.asarray``, ``torch.tensor`` and ``torch.as_tensor`` called on traced tensors: by
attribute, bound in the model's module before the trace (``from torch import as_tensor``),
and on a list of one-element tensors. Each failed with ``IndexError: tuple index out of
range`` (torch read the proxy as a nested sequence), except ``torch.as_tensor`` by attribute.
"""

from __future__ import annotations

import importlib.util
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
import torch
from torch import nn

import stridescope
from stridescope.frontends import load_graph

_MODEL = """
import torch
from torch import nn, as_tensor, asarray, tensor  # bound before any trace


class Model(nn.Module):
    def __init__(self, how: str) -> None:
        super().__init__()
        self.how = how
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        y = self.conv(x)
        if self.how == "bound as_tensor":
            y = as_tensor(y, dtype=torch.float64)
        if self.how == "bound asarray":
            y = asarray(y)
        if self.how == "bound tensor":
            y = tensor(y)
        if self.how == "asarray":
            y = torch.asarray(y)
        if self.how == "tensor":
            y = torch.tensor(y, dtype=torch.float16)
        if self.how == "list":  # a tensor of per-sample statistics
            y = y * torch.tensor([y.mean(), y.amax()]).sum()
        return y.float().relu()
"""


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    path = Path(tmp_path_factory.mktemp("models")) / "bound_constructors.py"
    path.write_text(textwrap.dedent(_MODEL))
    spec = importlib.util.spec_from_file_location("bound_constructors", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bound_constructors"] = module  # (loaded as a library's module is)
    spec.loader.exec_module(module)
    yield module
    del sys.modules["bound_constructors"]


HOWS = ["bound as_tensor", "bound asarray", "bound tensor", "asarray", "tensor", "list"]


@pytest.mark.parametrize("how", HOWS)
def test_a_tensor_made_of_a_traced_tensor_is_traced(model_file: ModuleType, how: str) -> None:
    model = model_file.Model(how)
    want = tuple(model(torch.randn(1, 3, 8, 8)).shape)
    summary = stridescope.summary(model, input_shape=(1, 3, 8, 8))
    assert summary.layers[-1].output_shape == want == (1, 4, 6, 6)
    assert summary.totals.params == sum(p.numel() for p in model.parameters())
    assert not [r for r in summary.layers if r.kind == "uncounted"]
    if how == "list":  # the two statistics stacked: (2,), then summed
        graph = load_graph(model, (1, 3, 8, 8))
        assert any(n.output_shape == (2,) for n in graph.nodes)


def test_the_bound_names_are_torch_s_again_after_a_trace(model_file: ModuleType) -> None:
    class Failing(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise RuntimeError("a forward that fails")

    stridescope.summary(model_file.Model("bound tensor"), input_shape=(1, 3, 8, 8))
    with pytest.raises(Exception, match="a forward that fails"):
        stridescope.summary(Failing(), input_shape=(1, 3, 8, 8))
    assert model_file.as_tensor is torch.as_tensor
    assert model_file.asarray is torch.asarray
    assert model_file.tensor is torch.tensor
    assert type(torch.tensor) is type(torch.zeros)  # torch's C function, not a Python one
    # outside a trace they are torch's: real data in, real tensors out
    assert torch.equal(model_file.tensor([1.0, 2.0]), torch.tensor([1.0, 2.0]))


def test_what_is_not_traced_goes_to_torch() -> None:
    class Mixed(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            scale = torch.tensor([2.0, 3.0, 4.0]).view(1, 3, 1, 1)  # numbers: torch's
            offset = torch.asarray([1.0, 1.0, 1.0]).view(1, 3, 1, 1)
            return x * scale + offset

    graph = load_graph(Mixed(), (1, 3, 8, 8))
    assert graph.output.output_shape == (1, 3, 8, 8)
