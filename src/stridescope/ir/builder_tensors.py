"""The tensor half of :class:`~stridescope.ir.GraphBuilder`: ops that see axes, not windows --
dense layers, permutes, products, shape-preserving ops, reshapes, flattens, merges,
broadcasting element-wise ops, and any other op a frontend gives the output shape of.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

from stridescope.ir.builder_core import _INHERITED, BuilderCore, LayerError, numel
from stridescope.ir.graph import OpKind, Shape, Window, channel_axis, spatial_axes
from stridescope.ir.reshaped_axes import PERMUTES, kept_axes, permuted
from stridescope.ir.splits import block_window

# per-node OpKind members as module names (``OpKind.X`` is slow on Python 3.11: see builder_core)
_CONCAT, _FLATTEN, _LINEAR, _MATMUL, _PERMUTE, _RESHAPE = (
    OpKind.CONCAT,
    OpKind.FLATTEN,
    OpKind.LINEAR,
    OpKind.MATMUL,
    OpKind.PERMUTE,
    OpKind.RESHAPE,
)

__all__ = ["TensorOps"]


class TensorOps(BuilderCore):
    """Node methods for the ops that work on whole axes."""

    def linear(
        self,
        parent: int,
        name: str,
        *,
        out_features: int,
        bias: bool = True,
        op: str = "",
        params: int | None = None,
    ) -> int:
        """A dense layer on the last axis; ``params`` overrides the count as in :meth:`conv`."""
        shape = self._nodes[parent].output_shape
        fin = shape[-1]
        if fin is None:
            raise LayerError(name, f"the feature count must be known; received {shape!r}")
        out = (*shape[:-1], out_features)
        if params is None:
            params = fin * out_features + (out_features if bias else 0)
        macs = numel(shape[:-1]) * fin * out_features
        return self._add(name, _LINEAR, (parent,), shape, out, params=params, macs=macs, op=op)

    def permute(self, parent: int, name: str, *, dims: Sequence[int], op: str = "") -> int:
        """Reorder the axes (``torch.permute``): output axis ``i`` is input axis ``dims[i]``.
        No MACs; the node records where the spatial axes went (:attr:`Node.spatial_at`), so
        the receptive field and coverage follow positions through a channels-last detour.

        >>> from stridescope.ir import GraphBuilder
        >>> b = GraphBuilder((1, 3, 8, 6), "nchw")
        >>> p = b.permute(b.input, "to_nhwc", dims=(0, 2, 3, 1))
        >>> back = b.permute(p, "to_nchw", dims=(0, 3, 1, 2))
        >>> g = b.build()
        >>> g.nodes[p].output_shape, g.nodes[p].spatial_at, g.nodes[back].spatial_at
        ((1, 8, 6, 3), (1, 2), None)
        """
        shape = self._nodes[parent].output_shape
        before = self._nodes[parent].spatial_at
        key = (tuple(dims), shape, before, self.layout)
        known = PERMUTES.get(key)
        if known is None:
            known = permuted(*key)
            if len(PERMUTES) >= 4096:
                PERMUTES.clear()
            PERMUTES[key] = known
        if isinstance(known, str):
            raise LayerError(name, known)
        out, moved = known
        return self._add(name, _PERMUTE, (parent,), shape, out, spatial_at=moved, op=op)

    def matmul(
        self,
        parents: Sequence[int],
        name: str,
        *,
        output_shape: Shape,
        macs: int,
        params: int = 0,
        op: str = "",
        window: Window | None = None,
    ) -> int:
        """A product of tensors (``@``, ``bmm``, attention, ``einsum``): the frontend gives the
        output shape and the MACs (one per output element per contracted element, as for a
        dense layer); ``window``: which positions each output position reads, where the
        product mixes positions along an axis (a recurrent layer along a spatial axis).

        >>> from stridescope.ir import GraphBuilder
        >>> b = GraphBuilder((2, 16, 64), "nchw")
        >>> m = b.matmul([b.input, b.input], "scores", output_shape=(2, 16, 16), macs=2*16*16*64)
        >>> b.build().nodes[m].kind.value, b.build().nodes[m].macs
        ('matmul', 32768)
        """
        parent_shape = self._nodes[parents[0]].output_shape if parents else ()
        # a window's axes are where its parent's are; else what the parents leave
        at = _INHERITED if window is None else self._nodes[parents[0]].spatial_at
        return self._add(
            name,
            _MATMUL,
            tuple(parents),
            parent_shape,
            tuple(output_shape),
            params=params,
            macs=macs,
            op=op,
            window=window,
            spatial_at=at,
        )

    def computed(
        self,
        name: str,
        *,
        output_shape: Shape,
        macs: int,
        params: int = 0,
        op: str = "",
        kind: OpKind = _MATMUL,
    ) -> int:
        """A product computed without the network's input (on weights alone, e.g. a position
        table looked up by ``one_hot @ table``): a ``matmul`` node without parents or
        spatial axes, for its MACs and the parameters it uses (another ``kind`` for a value
        made from the input's shape alone, e.g. a rotary table: ``move``, no MACs).

        >>> from stridescope.ir import GraphBuilder
        >>> b = GraphBuilder((1, 3, 8, 8), "nchw")
        >>> c = b.computed("table", output_shape=(4, 6), macs=4 * 5 * 6, params=30)
        >>> n = b.build().nodes[c]
        >>> n.parents, n.spatial_at, n.macs, b.build().params
        ((), (), 120, 30)
        """
        out = tuple(output_shape)
        return self._add(name, kind, (), (), out, params=params, macs=macs, op=op, spatial_at=())

    def pointwise(
        self, parent: int, name: str, *, kind: OpKind, params: int = 0, op: str = ""
    ) -> int:
        """A shape-preserving op: normalisation, activation, dropout."""
        shape = self._nodes[parent].output_shape
        return self._add(name, kind, (parent,), shape, shape, params=params, op=op)

    def reshape(self, parent: int, name: str, *, output_shape: Shape, op: str = "") -> int:
        """A view / reshape to ``output_shape`` (no MACs). When every spatial axis survives
        whole (same size, same elements before and after it), the node records where it went,
        so positions stay known: ShuffleNet's ``view(B, g, C // g, H, W)`` keeps them, a
        flatten of ``H x W`` does not. One that splits them into blocks, ``(B, C, H/b, b, W/b,
        b)`` (space-to-depth by ``view`` and ``permute``), reads as a pixel unshuffle
        (:mod:`~stridescope.ir.splits`).

        >>> from stridescope.ir import GraphBuilder
        >>> b = GraphBuilder((1, 8, 4, 6), "nchw")
        >>> split = b.reshape(b.input, "split", output_shape=(1, 2, 4, 4, 6))
        >>> merged = b.reshape(split, "merge", output_shape=(1, 8, 24))
        >>> g = b.build()
        >>> g.nodes[split].spatial_at, g.nodes[merged].spatial_at
        ((3, 4), None)
        """
        shape = self._nodes[parent].output_shape
        out = tuple(output_shape)
        source = self._nodes[parent].spatial_at or spatial_axes(len(shape), self.layout)
        kept = kept_axes(shape, source, out) if source else None
        if kept is None and source:  # split into blocks: a pixel unshuffle's window
            blocks = block_window(self._nodes, parent, tuple(source), out)
            if blocks is not None:
                window, at = blocks
                kind = OpKind.PIXEL_UNSHUFFLE
                return self._add(
                    name, kind, (parent,), shape, out, window=window, op=op, spatial_at=at
                )
        return self._add(name, _RESHAPE, (parent,), shape, out, spatial_at=kept, op=op)

    def squeeze(self, parent: int, name: str, *, axes: Sequence[int], op: str = "") -> int:
        """Drop ``axes``, each of size 1 (what an integer index leaves after the slice of its
        position: ``x[:, :, t]`` of a clip, ``frames[t]``). The spatial axes left are the ones
        they were, each one lower per dropped axis before it, so a frame's map has the
        clip's rows and columns (the receptive field keeps the dropped axis's field: see
        :mod:`stridescope.analysis.rf_squeeze`). Dropping no spatial axis, or all of them,
        is a :meth:`reshape`.

        >>> from stridescope.ir import GraphBuilder
        >>> b = GraphBuilder((1, 3, 4, 8, 8), "nchw")
        >>> clip = b.permute(b.input, "t_first", dims=(2, 0, 1, 3, 4))  # (T, N, C, H, W)
        >>> frame = b.slice(clip, "t0", spatial=[(0, 1, 1), (0, 8, 1), (0, 8, 1)],
        ...                 output_shape=(1, 1, 3, 8, 8))
        >>> one = b.squeeze(frame, "t0.squeeze", axes=[0])
        >>> n = b.build().nodes[one]
        >>> n.output_shape, n.spatial_at  # (N, C, H, W): H and W where NCHW puts them
        ((1, 3, 8, 8), None)
        """
        shape = self._nodes[parent].output_shape
        out = tuple([d for a, d in enumerate(shape) if a not in axes])
        source = self._nodes[parent].spatial_at or spatial_axes(len(shape), self.layout)
        left = tuple([a - sum([d < a for d in axes]) for a in source if a not in axes])
        if not left or len(left) == len(source):
            return self.reshape(parent, name, output_shape=out, op=op)
        at = None if left == spatial_axes(len(out), self.layout) else left
        return self._add(name, _RESHAPE, (parent,), shape, out, spatial_at=at, op=op)

    def flatten(self, parent: int, name: str, *, start_dim: int = 1, op: str = "") -> int:
        """Merge the axes from ``start_dim`` on; one after the channels that keeps every
        spatial axis whole (axes of size 1 merged with one: ``(N, C, 1, L)`` to ``(N, C, L)``)
        is a reshape. A classifier's ``flatten(1)`` stays a flatten (the whole input after)."""
        shape = self._nodes[parent].output_shape
        rest = shape[start_dim:]
        size = None if None in rest else math.prod([d for d in rest if d])
        out = (*shape[:start_dim], size)
        source = self._nodes[parent].spatial_at or spatial_axes(len(shape), self.layout)
        if start_dim > 1 and source and kept_axes(shape, source, out) is not None:
            return self.reshape(parent, name, output_shape=out, op=op)
        return self._add(name, _FLATTEN, (parent,), shape, out, op=op)

    def merge(self, parents: Sequence[int], name: str, *, kind: OpKind, op: str = "") -> int:
        """Add / multiply (same shapes) or concatenate along the channel axis."""
        shapes = [self._nodes[p].output_shape for p in parents]
        first = shapes[0]
        if kind is _CONCAT:
            axis = channel_axis(len(first), self.layout)
            others = {s[:axis] + s[axis + 1 :] for s in shapes}
            if len(others) > 1 or any([len(s) != len(first) for s in shapes]):
                raise LayerError(
                    name, f"operands of concat differ outside the channel axis: {shapes!r}"
                )
            chans = [s[axis] for s in shapes]
            total = None if None in chans else sum([c for c in chans if c])  # (no generator)
            out = (*first[:axis], total, *first[axis + 1 :])
            return self._add(name, kind, tuple(parents), first, out, op=op)
        if shapes.count(first) != len(shapes):
            raise LayerError(name, f"operands of {kind} differ in shape: {shapes!r}")
        macs = numel(first) * (len(parents) - 1)
        return self._add(name, kind, tuple(parents), first, first, macs=macs, op=op)

    def elementwise(
        self,
        parents: Sequence[int],
        name: str,
        *,
        kind: OpKind,
        operand_shapes: Sequence[Shape] = (),
        params: int = 0,
        op: str = "",
    ) -> int:
        """Add / multiply with broadcasting. ``operand_shapes`` are the shapes of operands that
        are not nodes (``()`` for a Python scalar, a bias, a scale); one MAC per output element
        per operand beyond the first.

        >>> from stridescope.ir import GraphBuilder
        >>> b = GraphBuilder((1, 8, 4, 4), "nchw")
        >>> m = b.elementwise([b.input], "scale", kind=OpKind.MUL, operand_shapes=[(1, 8, 1, 1)])
        >>> b.build().nodes[m].output_shape, b.build().nodes[m].macs
        ((1, 8, 4, 4), 128)
        """
        shapes = [self._nodes[p].output_shape for p in parents] + [tuple(s) for s in operand_shapes]
        rank = max([len(s) for s in shapes])
        out: list[int | None] = [1] * rank
        for s in shapes:
            for axis, d in enumerate(s, start=rank - len(s)):
                if d == 1 or d == out[axis]:
                    continue
                if out[axis] != 1:
                    raise LayerError(name, f"operands of {kind} do not broadcast: {shapes!r}")
                out[axis] = d
        result = tuple(out)
        macs = numel(result) * (len(shapes) - 1)
        return self._add(
            name,
            kind,
            tuple(parents),
            self._nodes[parents[0]].output_shape,
            result,
            params=params,
            macs=macs,
            op=op,
        )

    def add_params(self, node_id: int, params: int) -> None:
        """Count ``params`` more parameter elements at node ``node_id``: weights a frontend
        only sees among an op's operands once the op's node is made (a class token
        concatenated to the tokens, a bias table gathered by an index).

        >>> from stridescope.ir import GraphBuilder
        >>> b = GraphBuilder((1, 4, 8), "nchw")
        >>> c = b.other([b.input], "cat", kind=OpKind.CONCAT, output_shape=(1, 5, 8))
        >>> b.add_params(c, 8)
        >>> b.build().params
        8
        """
        node = self._nodes[node_id]
        self._nodes[node_id] = replace(node, params=node.params + params)
        self.edited.append(node_id)

    def value_bytes(self, node_id: int, size: int) -> None:
        """Node ``node_id``'s output holds values of ``size`` bytes, not the graph's
        :attr:`dtype_bytes` (``argmax``'s int64 indices, a bool mask, an 8-bit quantized
        layer's output): its activation bytes are counted at that size.

        >>> from stridescope.ir import GraphBuilder
        >>> b = GraphBuilder((1, 4, 8), "nchw")
        >>> m = b.other([b.input], "gt", kind=OpKind.MOVE, output_shape=(1, 4, 8))
        >>> b.value_bytes(m, 1)
        >>> [n.activation_bytes for n in b.build().nodes]
        [128, 32]
        """
        node = self._nodes[node_id]
        bytes_ = numel(node.output_shape) * size
        if bytes_ != node.activation_bytes:
            self._nodes[node_id] = replace(node, activation_bytes=bytes_)
            self.edited.append(node_id)

    def values_made(
        self, first: int, outputs: Sequence[tuple[int, int | None]], every: bool
    ) -> None:
        """The value sizes of one call's nodes (a layer's, a function's: ids from ``first``
        on): ``outputs`` pairs each node it returns with its bytes per value (``None``:
        unknown), counted by :meth:`value_bytes` where that is not :attr:`dtype_bytes`. With
        ``every`` (one output), every node the call made takes the output's size (a fused
        quantized ``ConvReLU2d``'s conv and ReLU: one 8-bit output); a node from before
        ``first`` (a cast returns its input's) is left as it is.

        >>> from stridescope.ir import GraphBuilder
        >>> b = GraphBuilder((1, 4, 8), "nchw")
        >>> a = b.other([b.input], "a", kind=OpKind.MOVE, output_shape=(1, 4, 8))
        >>> c = b.other([a], "c", kind=OpKind.MOVE, output_shape=(1, 4, 8))
        >>> b.values_made(a, [(c, 1)], every=True)
        >>> [n.activation_bytes for n in b.build().nodes]
        [128, 32, 32]
        """
        made = [
            (n, s) for n, s in outputs if n >= first and s is not None and s != self.dtype_bytes
        ]
        for node, size in made:
            for each in range(first, len(self._nodes)) if every else (node,):
                self.value_bytes(each, size)

    def other(
        self,
        parent: int | Sequence[int],
        name: str,
        *,
        kind: OpKind,
        output_shape: Shape,
        params: int = 0,
        counted: bool = True,
        note: str = "",
        op: str = "",
        macs: int = 0,
        scatter: Window | None = None,
        keeps: tuple[int, ...] | None = None,
    ) -> int:
        """Any other op, e.g. a reshape; ``counted=False`` marks an op stridescope does not
        understand: it is listed as uncounted, never as a silent zero. ``scatter``: where its
        first parent's positions are written (else as its kind says). ``keeps``: where the
        output holds each position of the first parent, itself (data movement that picks
        along other axes: ``x[:, idx]``, a gather of one phase per position)."""
        parents = (parent,) if isinstance(parent, int) else tuple(parent)
        shape = self._nodes[parents[0]].output_shape if parents else ()
        return self._add(
            name,
            kind,
            parents,
            shape,
            tuple(output_shape),
            params=params,
            macs=macs,
            counted=counted,
            note=note,
            op=op,
            scatter=scatter,
            spatial_at=_INHERITED if keeps is None else keeps,
        )
