"""An index tensor that points outside the axis it indexes stops the trace with torch's
``IndexError``, as the model's real forward does. Meta kernels take any index, so a model
whose relative-position lookup does not fit the input size (MViT v2 at 257 x 193) was
summarised as if it ran."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from stridescope.errors import StridescopeError
from stridescope.frontends import load_graph


class RelativeBias(nn.Module):
    """A bias table indexed by distances worked out from the input's size, as relative
    position attention builds them: it fits 8 x 8 inputs and smaller."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.table = nn.Parameter(torch.randn(15, 4))
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        x = self.conv(x)
        n = x.shape[-1]
        position = torch.arange(n)
        distance = position[:, None] - position[None, :] + 7  # 0..14 for n <= 8
        bias = self.table[distance]  # (n, n, 4)
        return x + bias.permute(2, 0, 1).sum(-1, keepdim=True)


class Picks(nn.Module):
    """Indexes a traced tensor by a buffer of channel indices, in one of several ways."""

    def __init__(self, how: str, index: list[int]) -> None:
        super().__init__()
        self.how = how
        self.conv = nn.Conv2d(3, 4, 1)
        self.register_buffer("index", torch.tensor(index))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.how == "getitem":
            return x[:, self.index]
        if self.how == "index_select":
            return x.index_select(1, self.index)
        if self.how == "gather":
            return x.gather(1, self.index.view(1, -1, 1, 1).expand(x.shape[0], -1, *x.shape[2:]))
        if self.how == "take_along_dim":
            return torch.take_along_dim(x, self.index.view(1, -1, 1, 1), 1)
        if self.how == "take_along_flat":
            return torch.take_along_dim(x, self.index)
        return F.embedding(self.index, x[0, :, :, 0])  # a row per channel


def test_a_lookup_that_fits_the_input_traces() -> None:
    graph = load_graph(RelativeBias(), (1, 3, 8, 8))
    assert graph.params == 16 + 15 * 4


def test_a_lookup_that_does_not_fit_the_input_is_torchs_index_error() -> None:
    model = RelativeBias()
    with pytest.raises(IndexError):  # what the real forward says
        model(torch.randn(1, 3, 9, 9))
    model.calls = 0
    with pytest.raises(StridescopeError, match="IndexError: index 15 is out of bounds"):
        load_graph(model, (1, 3, 9, 9))
    # found on the real index values: not traced again on real kernels (which, on CUDA,
    # report an index out of range later, from an assert on the device)
    assert model.calls == 1


@pytest.mark.parametrize("how", ["getitem", "index_select", "gather", "embedding"])
def test_indexing_a_traced_tensor_out_of_range_is_refused(how: str) -> None:
    with pytest.raises(StridescopeError, match="IndexError: index 4 is out of bounds"):
        load_graph(Picks(how, [0, 4]), (1, 3, 4, 4))
    model = Picks(how, [3, 0, 2])
    graph = load_graph(model, (1, 3, 4, 5))
    assert graph.output.output_shape == tuple(model(torch.randn(1, 3, 4, 5)).shape)


def test_take_along_dim_wraps_an_index_along_a_dim_as_torch_does() -> None:
    for index in ([0, 4], [5, -7], [-1]):  # torch takes index % 4 along the channels
        model = Picks("take_along_dim", index)
        want = tuple(model(torch.randn(1, 3, 4, 4)).shape)
        assert load_graph(model, (1, 3, 4, 4)).output.output_shape == want
    # flattened, it gathers: an index past the 64 values is torch's error
    with pytest.raises(RuntimeError, match="index 64 is out of bounds"):
        Picks("take_along_flat", [0, 64])(torch.randn(1, 3, 4, 4))
    with pytest.raises(StridescopeError, match="index 64 is out of bounds"):
        load_graph(Picks("take_along_flat", [0, 64]), (1, 3, 4, 4))
    assert load_graph(Picks("take_along_flat", [0, 63]), (1, 3, 4, 4)).output.output_shape == (2,)


def test_a_negative_index_counts_from_the_end_where_torch_takes_one() -> None:
    model = Picks("getitem", [-1, -4])
    assert load_graph(model, (1, 3, 4, 4)).output.output_shape == (1, 2, 4, 4)
    with pytest.raises(StridescopeError, match="index -5 is out of bounds"):
        load_graph(Picks("getitem", [-5]), (1, 3, 4, 4))
