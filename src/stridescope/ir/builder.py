"""Build a :class:`Graph` node by node; every size, parameter count and MAC is computed here.

MAC convention (one multiply-add = 1 MAC), the same for every frontend:

- convolution: ``output elements x (C_in / groups) x kernel area``; linear: ``rows x in x out``;
- transposed convolution: ``input elements x (C_out / groups) x kernel area`` (one MAC per
  input element per output channel per tap: every input value is scattered to each tap);
- max and average pooling (plain and adaptive): one per element of each window (a compare or
  an add); a reduction (mean, sum, amax over some axes): one per input element;
- element-wise add / multiply: one per output element per extra operand;
- normalisation, activations, dropout, reshapes, concatenation, padding, pixel (un)shuffle and
  interpolation: 0 (they are memory-bound; their cost shows as activation memory).

The builder is three parts, one concern each: bookkeeping and spatial-axis tracking
(:mod:`~stridescope.ir.builder_core`), ops that slide or scatter a window
(:mod:`~stridescope.ir.builder_windows`) and ops on whole axes
(:mod:`~stridescope.ir.builder_tensors`); :meth:`GraphBuilder.reduce` uses both families.

>>> b = GraphBuilder((1, 32, 32, 3), "nhwc", source="doc")
>>> x = b.conv(b.input, "conv", out_channels=16, kernel=1, stride=2, padding="same")
>>> node = b.build().nodes[x]
>>> node.output_shape, node.params, node.macs
((1, 16, 16, 16), 64, 12288)

A size that geometry cannot compute is a :class:`LayerError` (a
:class:`~stridescope.errors.StridescopeError`) whose one line names the layer:

>>> b.conv(x, "stem", out_channels=8, kernel=32)
Traceback (most recent call last):
...
stridescope.ir.builder_core.LayerError: layer 'stem': output size would be 0 for input=16, kernel=32, stride=1, dilation=1, padding=(0, 0)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from stridescope.ir.builder_core import PAD_MODES, IntOrTuple, LayerError, numel
from stridescope.ir.builder_tensors import TensorOps
from stridescope.ir.builder_windows import WindowOps
from stridescope.ir.graph import OpKind, spatial_axes

__all__ = ["PAD_MODES", "GraphBuilder", "IntOrTuple", "LayerError"]


class GraphBuilder(WindowOps, TensorOps):
    """Appends nodes in topological order. Each method returns the new node's id."""

    @property
    def size(self) -> int:
        """How many nodes there are so far (the next node's id)."""
        return len(self._nodes)

    def params_counted_before(self, first: int) -> None:
        """Nodes ``first`` onwards reuse weights counted at an earlier node (a layer called
        again): their ``params`` become 0, so a model's total counts each weight once.

        >>> b = GraphBuilder((1, 4), "nchw")
        >>> x = b.linear(b.input, "fc", out_features=4)
        >>> again = b.linear(x, "fc@1", out_features=4)
        >>> b.params_counted_before(again)
        >>> b.build().params
        20
        """
        for i in range(first, len(self._nodes)):
            self._nodes[i] = replace(self._nodes[i], params=0)
            self.edited.append(i)

    def reduce(
        self,
        parent: int,
        name: str,
        *,
        mode: str,
        axes: Sequence[int] | None,
        keepdim: bool = False,
        op: str = "",
    ) -> int:
        """A mean / sum (``mode='avg'``) or max (``'max'``) over ``axes`` (``None``: all).

        Over spatial axes only it is adaptive pooling to size 1 on those axes (so coverage
        and the receptive field know it reads every position), followed by a reshape that
        drops them when ``keepdim`` is false; returns the last node. Reductions that touch the
        batch or channel axis are one :attr:`OpKind.REDUCE` node with one MAC per input element.

        >>> b = GraphBuilder((2, 8, 4, 4), "nchw")
        >>> m = b.reduce(b.input, "mean", mode="avg", axes=(2, 3))
        >>> g = b.build()
        >>> [(n.kind.value, n.output_shape, n.macs) for n in g.nodes[1:]]
        [('adaptive_avgpool', (2, 8, 1, 1), 256), ('reshape', (2, 8), 0)]
        >>> b = GraphBuilder((2, 8, 4, 4), "nchw")
        >>> s = b.reduce(b.input, "s", mode="avg", axes=[1], keepdim=True)
        >>> n = b.build().nodes[s]
        >>> n.kind.value, n.output_shape, n.macs
        ('reduce', (2, 1, 4, 4), 256)
        """
        shape = self._nodes[parent].output_shape
        rank = len(shape)
        if mode not in ("avg", "max"):
            raise LayerError(name, f"reduce mode must be 'avg' or 'max'; received {mode!r}")
        chosen = range(rank) if axes is None else axes
        if any(not -rank <= a < rank for a in chosen):
            raise LayerError(
                name, f"reduction axes {tuple(chosen)!r} out of range for shape {shape!r}"
            )
        reduced = sorted({a % rank for a in chosen})
        kept = tuple(1 if a in reduced else d for a, d in enumerate(shape))
        squeezed = tuple(d for a, d in enumerate(shape) if a not in reduced)
        out_shape = kept if keepdim else squeezed
        spatial = spatial_axes(rank, self.layout)
        if reduced and set(reduced) <= set(spatial):
            sizes = [1 if a in reduced else shape[a] for a in spatial]
            target = [t for t in sizes if t is not None]
            if len(target) == len(sizes):
                node = self.adaptive_pool(parent, name, mode=mode, output_size=target, op=op)
                if keepdim:
                    return node
                return self.other(
                    node, f"{name}.squeeze", kind=OpKind.RESHAPE, output_shape=out_shape, op=op
                )
        return self._add(name, OpKind.REDUCE, (parent,), shape, out_shape, macs=numel(shape), op=op)
