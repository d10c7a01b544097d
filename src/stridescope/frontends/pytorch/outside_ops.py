"""Operators outside torch that detection models call, read by name: torchvision's ``nms``
(box selection: its size is data, taken at its largest, every box kept; see
:mod:`.data_bounds`) and ``roi_align`` (a region head's pooling: ``(K, C, ph, pw)`` for ``K``
boxes, each output the mean of ``sampling_ratio²`` bilinear samples of 4 taps, so
``4 · sampling_ratio²`` MACs an element; with an adaptive ratio (``<= 0``), as many samples
as the box is large, which is data: uncounted, its shape from the meta run) and
``deform_conv2d`` (a conv whose taps are bilinear samples at learned offsets). As
``grid_sample``'s, the positions they read are data: every input position.

torchvision defines them in its C++ library (``torch.ops.torchvision.*``); a call on traced
tensors reaches the tracer with the operator, whose ``ns::name`` (its schema's:
:func:`~stridescope.frontends.pytorch.aten_calls.operator_name`) picks the handler here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch

from stridescope.frontends.pytorch.aten_calls import operator_name
from stridescope.frontends.pytorch.proxy import ShapeProxy
from stridescope.ir import OpKind

__all__ = ["OutsideOps"]

_TAPS = 4  # a bilinear sample's (2 per axis)


class OutsideOps:
    """The tracer's part for torchvision's operators (a base of the tracer)."""

    builder: Any

    # (given by the tracer and its other bases)
    scoped: Callable[[str], str]
    take_params: Callable[[Iterable[Any]], int]
    bounded: Callable[..., None]
    data_sized: set[int]

    def outside_call(self, func: Any, args: tuple[Any, ...]) -> ShapeProxy | None:
        """The node of a torchvision operator this module reads, else ``None`` (the call
        then runs on meta tensors, uncounted)."""
        if not args or type(args[0]) is not ShapeProxy:
            return None
        if (qualified := operator_name(func)) not in _READ:
            return None
        out: ShapeProxy | None = getattr(self, _READ[qualified])(qualified, *args)
        return out

    def _nms(self, op: str, boxes: ShapeProxy, *rest: Any) -> ShapeProxy | None:
        """``nms(boxes, scores, iou_threshold)``: the indices of the boxes kept, every one
        at most (noted)."""
        if len(boxes.dims) != 2:
            return None
        parents = list(dict.fromkeys(a.node for a in (boxes, *rest) if type(a) is ShapeProxy))
        out = (boxes.dims[0],)
        name = self.scoped(op.split("::")[1])
        node = self.builder.other(parents, name, kind=OpKind.MOVE, output_shape=out, op=op)
        self.bounded(boxes.node, op, "every box kept")
        self.data_sized.add(node)
        return ShapeProxy(node, out, torch.int64)

    def _roi_align(
        self,
        op: str,
        input: ShapeProxy,
        rois: Any,
        spatial_scale: float,
        pooled_height: int,
        pooled_width: int,
        sampling_ratio: int,
        aligned: bool = False,
    ) -> ShapeProxy | None:
        """``roi_align(input, rois, ...)``: ``(K, C, ph, pw)``, at a fixed sampling ratio."""
        if len(input.dims) != 4 or sampling_ratio <= 0 or len(getattr(rois, "shape", ())) != 2:
            return None
        out = (int(rois.shape[0]), input.dims[1], int(pooled_height), int(pooled_width))
        parents = list(dict.fromkeys(a.node for a in (input, rois) if type(a) is ShapeProxy))
        node = self.builder.other(
            parents,
            self.scoped(op.split("::")[1]),
            kind=OpKind.INTERPOLATE,
            output_shape=out,
            params=self.take_params([rois]),
            macs=math.prod(out) * _TAPS * sampling_ratio**2,
            op=op,
        )
        return ShapeProxy(node, out, input.dtype)

    def _deform_conv2d(
        self,
        op: str,
        input: ShapeProxy,
        weight: Any,
        offset: Any,
        mask: Any,
        bias: Any,
        stride_h: int,
        stride_w: int,
        pad_h: int,
        pad_w: int,
        dil_h: int,
        dil_w: int,
        groups: int,
        offset_groups: int,
        use_mask: bool,
    ) -> ShapeProxy | None:
        """``deform_conv2d`` (DCNv1, and v2 with ``use_mask``): a conv whose every tap is a
        bilinear sample at a learned offset: ``(N, C_out, H', W')`` by the conv's arithmetic;
        per output element the conv's ``C_in/groups · kh · kw`` MACs, and per sample (``N ·
        C_in · kh · kw · H' · W'``) 4 taps, and one more where the mask scales it."""
        shape = getattr(weight, "shape", ())
        if len(input.dims) != 4 or len(shape) != 4:
            return None
        n, c_in, h, w = input.dims
        c_out, per_group, kh, kw = (int(d) for d in shape)
        out = (
            n,
            c_out,
            (h + 2 * pad_h - dil_h * (kh - 1) - 1) // stride_h + 1,
            (w + 2 * pad_w - dil_w * (kw - 1) - 1) // stride_w + 1,
        )
        samples = n * c_in * kh * kw * out[2] * out[3]
        macs = math.prod(out) * per_group * kh * kw + samples * (_TAPS + bool(use_mask))
        tensors = (input, offset, mask) if use_mask else (input, offset)
        parents = list(dict.fromkeys(a.node for a in tensors if type(a) is ShapeProxy))
        node = self.builder.other(
            parents,
            self.scoped(op.split("::")[1]),
            kind=OpKind.INTERPOLATE,
            output_shape=out,
            params=self.take_params([t for t in (weight, bias) if t is not None]),
            macs=macs,
            op=op,
        )
        return ShapeProxy(node, out, input.dtype)


_READ = {
    "torchvision::deform_conv2d": "_deform_conv2d",
    "torchvision::nms": "_nms",
    "torchvision::qnms": "_nms",
    "torchvision::roi_align": "_roi_align",
}
