"""Sizes that are data, taken at their largest (until 2026-12-07 each was refused: "returns as
many elements as the tensor's values select"): a selection by a mask computed from the input
(``x[mask]``, ``masked_select``, ``nonzero``, ``argwhere``, ``torch.where(condition)``),
``unique`` / ``unique_consecutive`` and torchvision's ``nms`` take every position, every
value, every box; a note says what follows is an upper bound. A loop over such a result is
followed once, with a note. A detector's post-processing pattern (scores over a threshold,
the top ones, NMS per class, the kept boxes pooled by a head) traces end to end."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import stridescope
from stridescope.frontends import load_graph

Select = Callable[[torch.Tensor], Any]

SELECTIONS: dict[str, Select] = {
    "x[mask]": lambda x: x[x.sum(-1) > 0],
    "x[mask] of every axis": lambda x: x[x > 0],
    "masked_select": lambda x: torch.masked_select(x, x > 0),
    "Tensor.masked_select, broadcast": lambda x: x.masked_select(x.sum(-1, keepdim=True) > 0),
    "nonzero": lambda x: torch.nonzero(x > 0),
    "nonzero as tuple": lambda x: x[torch.nonzero(x.sum(-1) > 0, as_tuple=True)],
    "argwhere": lambda x: torch.argwhere(x > 0),
    "where(condition)": lambda x: x[torch.where(x.sum(-1) > 0)],
    "where(condition)[0] as an index": lambda x: x[0][torch.where(x[0].sum(-1) > 0)[0]],
    "unique": lambda x: torch.unique(x.argmax(-1)),
    "unique with inverse and counts": lambda x: x.argmax(-1).unique(
        return_inverse=True, return_counts=True
    )[2],
    "unique along an axis": lambda x: torch.unique(x > 0, dim=1),
    "unique_consecutive": lambda x: torch.unique_consecutive(x.argmax(-1), return_counts=True)[1],
}


class Selecting(nn.Module):
    def __init__(self, select: Select) -> None:
        super().__init__()
        self.select = select

    def forward(self, x: torch.Tensor) -> Any:
        return self.select(x * 2)


@pytest.mark.parametrize("case", list(SELECTIONS))
def test_a_selection_by_values_is_taken_at_its_largest(case: str) -> None:
    model = Selecting(SELECTIONS[case])
    graph = load_graph(model, (2, 6, 5))
    bound = graph.nodes[-1].output_shape
    notes = [n for n in graph.notes if "taken at their largest" in n]
    assert len(notes) == 1 and "upper bounds" in notes[0]
    for _ in range(5):  # whatever the values, torch's result fits in the bound
        real = model(torch.randn(2, 6, 5))
        assert len(real.shape) == len(bound) and all(map(int.__le__, real.shape, bound))
    everything = model(torch.ones(2, 6, 5))  # every position selected, every value ...
    if "unique" not in case:
        assert tuple(everything.shape) == bound


class Picked(nn.Module):
    """A linear layer over the tokens a score selects: its MACs are at most the bound's."""

    def __init__(self) -> None:
        super().__init__()
        self.score, self.proj = nn.Linear(8, 1), nn.Linear(8, 16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        keep = self.score(x).squeeze(-1) > 0
        return self.proj(x[keep])


def test_what_follows_a_selection_is_counted_at_the_bound() -> None:
    model = Picked()
    summary = stridescope.summary(model, (2, 10, 8))
    proj = next(r for r in summary.layers if r.path == "proj")
    assert proj.output_shape == (20, 16) and proj.macs == 20 * 8 * 16
    with FlopCounterMode(display=False) as flops:
        model(torch.randn(2, 10, 8))
    assert summary.totals.macs >= flops.get_total_flops() // 2
    assert not any("discards" in n for n in summary.notes)  # (the score: its values are read)


class PerClass(nn.Module):
    """A sum per class present: a loop over ``unique``'s values, followed once."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        labels = x.argmax(-1)
        out = x.new_zeros(x.shape[-1])
        for c in labels.unique():
            out = out + x[labels == c].sum(0)
        return out


def test_a_loop_over_a_result_sized_by_values_is_followed_once() -> None:
    graph = load_graph(PerClass(), (12, 4))
    looped = [n for n in graph.notes if "loop over the elements of" in n]
    assert len(looped) == 1 and "one pass" in looped[0]
    assert graph.nodes[-1].output_shape == (4,)
    assert sum(n.op == "unique" for n in graph.nodes) == 1
    assert sum(n.op == "sum" for n in graph.nodes) == 1  # (one pass of the loop)


def _nms_op() -> Any:
    """torchvision's ``nms`` as its C++ library defines it (schema and name), with a plain
    torch body: the tests do not import torchvision."""
    if not hasattr(torch.ops.torchvision, "nms"):

        @torch.library.custom_op("torchvision::nms", mutates_args=())
        def nms(dets: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
            return scores.argsort(descending=True)[: max(1, len(scores) // 2)]

        @nms.register_fake
        def _(dets: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
            size = torch.library.get_ctx().new_dynamic_size()
            return dets.new_empty(size, dtype=torch.long)

    return torch.ops.torchvision.nms


def _roi_align_op() -> Any:
    """torchvision's ``roi_align`` as its C++ library defines it, with a plain torch body (the
    mean of each box's map, repeated over the bins)."""
    if not hasattr(torch.ops.torchvision, "roi_align"):

        @torch.library.custom_op("torchvision::roi_align", mutates_args=())
        def roi_align(
            input: torch.Tensor,
            rois: torch.Tensor,
            spatial_scale: float,
            pooled_height: int,
            pooled_width: int,
            sampling_ratio: int,
            aligned: bool,
        ) -> torch.Tensor:
            pooled = input[rois[:, 0].long()].mean((2, 3), keepdim=True)
            return pooled.expand(-1, -1, pooled_height, pooled_width).clone()

        @roi_align.register_fake
        def _(input: torch.Tensor, rois: torch.Tensor, *args: Any) -> torch.Tensor:
            return input.new_empty((rois.shape[0], input.shape[1], args[1], args[2]))

    return torch.ops.torchvision.roi_align


class Detector(nn.Module):
    """A dense head, its scores over a threshold, the best of them, NMS per class (a loop
    over the classes present, keeping a mask), and a head over the kept boxes, pooled by
    ``roi_align``."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.cls, self.box = nn.Conv2d(8, 3, 1), nn.Conv2d(8, 4, 1)
        self.refine = nn.Linear(8 * 2 * 2, 32)
        self.nms, self.roi_align = _nms_op(), _roi_align_op()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.body(x)
        scores = self.cls(f).flatten(1).sigmoid()[0]  # (3 * H * W,)
        boxes = self.box(f).flatten(2)[0].t().repeat(3, 1)  # (3 * H * W, 4)
        labels = torch.arange(3).repeat_interleave(f.shape[-1] * f.shape[-2])
        keep = scores > 0.05
        scores, boxes, labels = scores[keep], boxes[keep], labels[keep]
        top = scores.topk(min(50, scores.numel())).indices
        scores, boxes, labels = scores[top], boxes[top], labels[top]
        kept = torch.zeros_like(scores, dtype=torch.bool)
        for c in torch.unique(labels):
            at = torch.where(labels == c)[0]
            kept[at[self.nms(boxes[at], scores[at], 0.5)]] = True
        boxes = boxes[torch.where(kept)[0][:10]]
        rois = torch.cat([boxes.new_zeros(len(boxes), 1), boxes], 1)
        return self.refine(self.roi_align(f, rois, 0.5, 2, 2, 2, False).flatten(1))


def test_a_detector_s_post_processing_traces_to_its_head() -> None:
    model = Detector().eval()
    summary = stridescope.summary(model, (1, 3, 16, 16))
    assert summary.layers[-1].output_shape == (10, 32)  # (every box kept, the first ten)
    assert summary.totals.params == sum(p.numel() for p in model.parameters())
    assert summary.totals.uncounted == ()
    pooled = next(r for r in summary.layers if r.path == "roi_align")
    assert pooled.output_shape == (10, 8, 2, 2) and pooled.macs == 10 * 8 * 2 * 2 * 4 * 2**2
    notes = " ".join(summary.notes)
    assert "taken at their largest" in notes and "followed once" in notes
    real = model(torch.randn(1, 3, 16, 16))
    assert real.shape[1] == 32 and real.shape[0] <= 10


class Ranked(nn.Module):
    """Boxes put in the order of their scores (``keep[scores[keep].sort()[1]]``): an index
    tensor the forward computed, as long as the tensor it indexes."""

    def __init__(self) -> None:
        super().__init__()
        self.score = nn.Linear(8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scores = self.score(x).squeeze(-1)[0]
        keep = torch.nonzero(scores > 0).squeeze(1)
        keep = keep[scores[keep].sort(descending=True)[1]]
        return x[0][keep[:4]]


def test_an_index_the_forward_computed_is_read_where_it_picks() -> None:
    summary = stridescope.summary(Ranked(), (1, 10, 8))
    assert not any("discards" in n for n in summary.notes)  # (the sort: its order is read)
    graph = load_graph(Ranked(), (1, 10, 8))
    order = next(n.id for n in graph.nodes if n.name == "sort[1]")
    (ranked,) = [n for n in graph.nodes if order in n.parents]
    assert ranked.op == "__getitem__" and ranked.kind.value == "move"  # (not a reshape of keep)
    assert graph.nodes[ranked.parents[0]].op == "squeeze"
