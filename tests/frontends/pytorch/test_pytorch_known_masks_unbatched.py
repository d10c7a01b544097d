"""Two ways of indexing and calling layers torch allows: a boolean mask the forward made of its
own (not from a traced tensor: its selected count is known), read (``y[mask]``) and written
(``x[mask] = y[mask]``); and a conv or pool given an input without its batch axis
(``(C, H, W)``, which torch reads as a batch of one)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from stridescope.errors import StridescopeError
from stridescope.frontends import load_graph


class MaskedTokens(nn.Module):
    """Projects the tokens a fixed mask selects (a masked-patch objective's pattern)."""

    def __init__(self, write: bool) -> None:
        super().__init__()
        self.proj = nn.Linear(8, 8)
        self.write = write

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (2, 16, 8)
        mask = torch.zeros(x.shape[:2], dtype=torch.bool)
        mask[:, 1::3] = True  # 5 of 16 per sample
        picked = self.proj(x[mask])  # (10, 8)
        if not self.write:
            return picked
        out = x.clone()
        out[mask] = picked
        return out


@pytest.mark.parametrize("write", [False, True])
def test_a_mask_made_in_the_forward_selects_a_known_count(write: bool) -> None:
    model = MaskedTokens(write).eval()
    with torch.no_grad(), FlopCounterMode(display=False) as flops:
        real = model(torch.randn(2, 16, 8))
    graph = load_graph(model, (2, 16, 8))
    assert graph.nodes[-1].output_shape == tuple(real.shape)
    assert not graph.uncounted
    assert (
        graph.nodes[[n.name for n in graph.nodes].index("proj")].macs
        == flops.get_total_flops() // 2
    )


class Picks(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[x > 0]  # a mask from the data: its count is not known


def test_a_mask_from_the_traced_tensor_is_taken_at_its_largest() -> None:
    graph = load_graph(Picks(), (2, 16, 8))
    assert graph.nodes[-1].output_shape == (2 * 16 * 8,)
    assert any("indexing by a boolean mask" in n for n in graph.notes)


UNBATCHED: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "F.max_pool2d": lambda s: F.max_pool2d(s, 3, stride=1, padding=1),
    "F.avg_pool2d": lambda s: F.avg_pool2d(s, 2),
    "F.adaptive_avg_pool2d": lambda s: F.adaptive_avg_pool2d(s, 1),
    "nn.Conv2d": nn.Conv2d(4, 6, 3, stride=2, padding=1),
    "nn.ConvTranspose2d": nn.ConvTranspose2d(4, 2, 2, stride=2),
    "nn.MaxPool1d": nn.MaxPool1d(2),
}


class Scores(nn.Module):
    """A head whose scores lose their batch axis before a layer (a keypoint NMS's pattern)."""

    def __init__(self, then: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.head = nn.Conv2d(3, 4, 1)
        self.then = then

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.head(x)[0]  # (4, 8, 8)
        return self.then(s.flatten(1) if isinstance(self.then, nn.MaxPool1d) else s)


@pytest.mark.parametrize("case", UNBATCHED)
def test_a_layer_takes_an_input_without_its_batch_axis(case: str) -> None:
    model = Scores(UNBATCHED[case]).eval()
    with torch.no_grad(), FlopCounterMode(display=False) as flops:
        real = model(torch.randn(1, 3, 8, 8))
    graph = load_graph(model, (1, 3, 8, 8))
    assert graph.nodes[-1].output_shape == tuple(real.shape)
    assert not graph.uncounted
    assert graph.params == sum(p.numel() for p in model.parameters())
    if case.startswith("nn.Conv"):
        products = sum(n.macs for n in graph.nodes if n.op.startswith("Conv"))
        assert products == flops.get_total_flops() // 2


def test_a_wrong_rank_is_still_a_one_line_layer_error() -> None:
    model = Scores(lambda s: F.max_pool2d(s.flatten(), 2)).eval()
    with pytest.raises(StridescopeError, match=r"expects a 4-D input \(N, C, H, W\)"):
        load_graph(model, (1, 3, 8, 8))
