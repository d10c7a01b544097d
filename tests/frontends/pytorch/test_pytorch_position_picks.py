"""Data movement that puts positions elsewhere along their own axes (``flip``, ``roll``,
``rot90``, ``repeat_interleave``, ``repeat`` / ``tile``, an index of constants along a
spatial axis, a ``gather`` / ``take_along_dim`` by one such index, since 2026-12-06): until 2026-12-06 coverage took every position of their input to be read, so a
flip or a roll followed by a slice or a stride said 100% of the input (a third read for
``x.flip(2)[:, :, :4]``), and so did ``x[:, :, [0, 3, 7]]``. Each is now a node of per-axis
picks (``GraphBuilder.picked``): the input coverage is autograd's, output by output; the
field after positions put out of order is ``?``, as before."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

import stridescope
from tests.autograd_reference import field_checked

ROWS = torch.tensor([0, 3, 7, 3])


class _Fn(nn.Module):
    """``fn(x)`` after a 3x3 conv (a field wider than a pixel), then a 1x1 conv."""

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.fn = fn
        self.conv = nn.Conv2d(1, 2, 3, padding=1)
        self.head = nn.Conv2d(2, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.fn(self.conv(x)))


CASES: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "flip then rows": lambda x: x.flip(2)[:, :, :4],
    "flip then a stride": lambda x: torch.flip(x, [3])[..., ::3],
    "flip both then a corner": lambda x: x.flip((2, 3))[:, :, :5, :2],
    "roll then rows": lambda x: torch.roll(x, 3, dims=2)[:, :, :4],
    "roll on two axes then a stride": lambda x: x.roll((2, -5), (2, 3))[:, :, ::4, :5],
    "a roll undone": lambda x: x.roll(4, 3).roll(-4, 3)[..., :3],
    "index_select of rows": lambda x: torch.index_select(x, 2, ROWS),
    "an index of columns, from the end": lambda x: x[:, :, :, torch.tensor([-1, -4, 0])],
    "a list of rows": lambda x: x[:, :, [11, 2]],
    "flip of channels then a stride": lambda x: x.flip(1)[:, :, ::2],
    "fliplr (channels) and flipud (batch)": lambda x: torch.flipud(torch.fliplr(x))[..., ::3],
    "rot90 then rows": lambda x: x.rot90(1, (2, 3))[:, :, :4],
    "rot90 twice then a stride": lambda x: torch.rot90(x, 2, [2, 3])[..., ::3],
    "rot90 back then rows": lambda x: x.rot90(-1, (2, 3))[:, :, 5:],
    "rot90 the other way round": lambda x: x.rot90(1, (3, 2))[:, :, ::4, :3],
    "repeat_interleave of rows": lambda x: x.repeat_interleave(2, dim=2)[:, :, :6],
    "repeat_interleave of columns": lambda x: torch.repeat_interleave(x, 3, -1)[..., 7:12],
    "repeat of rows": lambda x: x.repeat(1, 1, 2, 1)[:, :, 10:14],
    "tile of both": lambda x: torch.tile(x, (1, 1, 2, 3))[:, :, ::5, 20:],
    "tile of the channels": lambda x: torch.tile(x, (1, 2, 1, 1))[:, :2, ::5],
    # a gather along a spatial axis by an index the same in every channel and column
    "gather of rows": lambda x: torch.gather(x, 2, ROWS.view(1, 1, 4, 1).expand(1, 2, 4, 12)),
    "take_along_dim of columns, broadcast": lambda x: torch.take_along_dim(
        x, ROWS.view(1, 1, 1, 4), dim=3
    )[:, :, ::5],
}


@pytest.mark.parametrize("name", list(CASES))
def test_moved_positions_are_read_where_they_came_from(name: str) -> None:
    model = _Fn(CASES[name])
    summary = stridescope.summary(model, input_shape=(1, 1, 12, 12))
    assert summary.totals.uncounted == ()
    assert summary.layers[-1].output_shape == tuple(model(torch.zeros(1, 1, 12, 12)).shape)
    field_checked(model, (1, 1, 12, 12))  # coverage autograd's, the field never smaller


def test_each_output_reads_its_source() -> None:
    """After a flip, output row ``i`` reads what row ``n - 1 - i`` read: coverage follows
    each output (a flip of the rows, then rows 0 to 2: conv rows 7 to 5, which read input
    rows 4 to 7). The field after positions put out of order is ``?`` (their
    fields follow no pattern; a note says why); rows picked by index read their share."""
    model = _Fn(lambda x: x.flip(2)[:, :, :3])
    x = torch.rand(1, 1, 8, 8, requires_grad=True)
    (grad,) = torch.autograd.grad(model(x)[0, :, 0, 3].sum(), x)
    assert torch.nonzero(grad[0, 0].sum(1)).flatten().tolist() == [6, 7]  # (padding below)
    summary = stridescope.summary(model, input_shape=(1, 1, 8, 8))
    assert summary.input_coverage == 4 / 8
    assert summary.layers[-1].rf_size is None
    assert "from flip on: flip puts the positions out of order" in " ".join(summary.notes)
    assert next(r for r in summary.layers if r.path == "flip").read_fraction == 1.0
    picked = stridescope.summary(_Fn(lambda x: x[:, :, ROWS]), input_shape=(1, 1, 12, 12))
    assert next(r for r in picked.layers if r.path == "getitem").read_fraction == 3 / 12
    kept = stridescope.summary(_Fn(lambda x: x.flip(1)), input_shape=(1, 1, 12, 12))
    assert kept.layers[-1].rf_size == (3, 3)  # (a flip of the channels keeps positions)


class _Conv(nn.Module):
    """A 3x3 conv, then ``fn``: an output of a rank lower than the map's."""

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.fn = fn
        self.conv = nn.Conv2d(1, 2, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(self.conv(x))


INDEXED: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "flip then a row": lambda x: x.flip(2)[:, :, 0],
    "roll then a column": lambda x: x.roll(3, 3)[..., 5],
    "rows picked, then one of them": lambda x: torch.index_select(x, 2, ROWS)[:, :, 1],
    "flip then select": lambda x: x.flip(3).select(3, 2),
    "flip then unbind": lambda x: x.flip(2).unbind(2)[0],
}


@pytest.mark.parametrize("name", list(INDEXED))
def test_an_integer_index_after_positions_were_picked_reads_its_source(name: str) -> None:
    """An integer index after a flip, roll or pick: the axes stay where they were, so the
    index is a slice of one position of a known map, and coverage reads that row's source
    (it read the whole input: 1.0 where autograd says 3 of 12 rows)."""
    field_checked(_Conv(INDEXED[name]), (1, 1, 12, 12))
