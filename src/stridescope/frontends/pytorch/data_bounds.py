"""Sizes that are data, taken at their largest.

A mask's selection (``x[mask]``, ``masked_select``, ``nonzero``, ``argwhere``,
``torch.where(condition)``), ``unique`` and ``unique_consecutive`` return as many elements as
the tensor's values select or hold, and torchvision's ``nms`` keeps as many boxes as overlap
least: a trace reads shapes, not values. Where the trace knows every element of a mask (a mask
given as an input, taken as all ones; ids compared with a padding id: never equal; see
:mod:`.known_values`) the count is exact. Otherwise the op is taken at the largest size it can
return (every position selected, every value distinct, every box kept) and the graph gets one
note, at the first such op: what follows it is counted at that size, an upper bound. A
detector's region heads are counted at the full number of proposals its post-NMS limit lets
through, as on an image with many objects.

torchvision's ``nms`` is read by :mod:`.outside_ops`.

A loop over the elements of such a result (``for c in labels.unique()``, ``for e in
experts_hit`` of a mixture of experts) runs as many times as the values say: it is followed
once, for its first element, and a second note says that the work inside it is counted for one
pass (``ShapeProxy.__iter__`` asks :meth:`DataBounds.loop_once`; the nodes whose size is data
are in ``Tracer.data_sized``).

>>> import torch
>>> from torch import nn
>>> from stridescope.frontends.pytorch.trace import trace_torch
>>> class Keep(nn.Module):
...     def forward(self, x):
...         return x[x.sum(1) > 0]
>>> g = trace_torch(Keep(), (6, 4))
>>> g.nodes[-1].output_shape
(6, 4)
>>> print(g.notes[0])
sizes past 'gt', read by indexing by a boolean mask (x[mask]), depend on its values: taken at their largest (every position selected), so the shapes, MACs and memory from there on are upper bounds
"""

from __future__ import annotations

from typing import Any

from stridescope.frontends.pytorch.proxy import ShapeProxy

__all__ = ["SELECTED_ALL", "DataBounds"]

SELECTED_ALL = "every position selected"
_NOTED, _LOOPED = -1, -2  # (in ``data_sized`` once that note is made: one each per trace)


class DataBounds:
    """The tracer's part for sizes that are data (a base of the tracer)."""

    builder: Any
    data_sized: set[int]  # nodes whose size is data, taken at its largest (and the notes')

    def bounded(self, source: int, what: str, how: str = SELECTED_ALL) -> None:
        """Note (once per trace) that sizes past node ``source``'s values, read by ``what``,
        are data, taken at their largest (``how``)."""
        if _NOTED in self.data_sized:
            return
        self.data_sized.add(_NOTED)
        self.builder.note(
            f"sizes past {self.builder._nodes[source].name!r}, read by {what}, depend on its "
            f"values: taken at their largest ({how}), so the shapes, MACs and memory from there "
            "on are upper bounds"
        )

    def loop_once(self, proxy: ShapeProxy) -> ShapeProxy:
        """The one element a loop over ``proxy`` (whose size is data) is followed for."""
        if _LOOPED not in self.data_sized:
            self.data_sized.add(_LOOPED)
            self.builder.note(
                f"a loop over the elements of {self.builder._nodes[proxy.node].name!r} runs as "
                "many times as its values say: it is followed once, so the work inside it is "
                "counted for one pass"
            )
        first: ShapeProxy = proxy[0]  # type: ignore[index]  # (operators set on the class)
        return first
