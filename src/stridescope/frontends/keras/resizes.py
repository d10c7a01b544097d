"""Keras resizes: the ``Resizing`` layer and ``keras.ops.image.resize``, with the crop or the
padding to the target's aspect ratio Keras makes first.

With ``crop_to_aspect_ratio`` Keras keeps the centred box of the target's aspect ratio and
resizes it; with ``pad_to_aspect_ratio`` it adds as many rows (or columns) of its fill value
above and below (left and right) as make the aspect ratio, and resizes that. Both are exact
here: a crop (a padding window of negative amounts) or a constant padding (which reads no
pixel) before the resize, each amount computed as Keras computes it.

>>> from stridescope.ir import GraphBuilder
>>> b = GraphBuilder((1, 16, 16, 3), "nhwc")
>>> out = resize_node(b, b.input, "resizing", (1, 5, 7, 3),
...                   settings={"crop_to_aspect_ratio": True}, op="Resizing")
>>> [(n.name, n.output_shape) for n in b.build().nodes[1:]]
[('resizing.crop', (1, 11, 16, 3)), ('resizing', (1, 5, 7, 3))]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stridescope.geometry import ANTIALIAS
from stridescope.ir import GraphBuilder, OpKind, Shape, spatial_axes

__all__ = ["aspect_padding", "resize_node"]

_KERAS_RESIZE = {"nearest": "nearest-exact", "bilinear": "bilinear", "bicubic": "bicubic"}


def resize_node(
    b: GraphBuilder, parent: int, name: str, out: Shape, *, settings: Mapping[str, Any], op: str
) -> int:
    """A resize to ``out`` (the Resizing layer by its config, ``keras.ops.image.resize`` by its
    attributes, as ``settings``: both spell ``interpolation``, ``crop_to_aspect_ratio``,
    ``pad_to_aspect_ratio`` and ``antialias``): after the crop or padding to the aspect ratio
    (:func:`aspect_padding`, a node ``{name}.crop`` or ``{name}.pad``), a resize of
    ``interpolation`` (Keras's nearest has half-pixel centres: PyTorch's ``nearest-exact``),
    read through its windows or its coordinates (:meth:`GraphBuilder.resize`), with
    antialiasing too (bilinear and bicubic: PyTorch's filter, which Keras's torch backend
    runs)."""
    crop = bool(settings.get("crop_to_aspect_ratio"))
    pad = bool(settings.get("pad_to_aspect_ratio"))
    if crop or pad:
        shape = b.shape(parent)
        axes = spatial_axes(len(shape), b.layout)
        sizes = [shape[a] for a in axes]
        targets = [out[a] for a in axes]
        padding = aspect_padding(sizes, targets, crop)
        if padding is None:  # (sizes not known: only the shape)
            return _resize(b, parent, name, out, None, op)
        if any(amount for pair in padding for amount in pair):
            parent = b.pad(parent, f"{name}.{'crop' if crop else 'pad'}", padding=padding, op=op)
    interpolation = str(settings.get("interpolation", "bilinear"))
    mode = _KERAS_RESIZE.get(interpolation)
    if settings.get("antialias") and interpolation in ("bilinear", "bicubic"):
        mode = f"{mode}{ANTIALIAS}"  # (Keras drops antialiasing for the other modes)
    return _resize(b, parent, name, out, mode, op)


def _resize(b: GraphBuilder, parent: int, name: str, out: Shape, mode: str | None, op: str) -> int:
    return b.resize(
        parent, name, kind=OpKind.INTERPOLATE, output_shape=out, op=op, interpolation=mode
    )


def aspect_padding(
    sizes: list[int | None], targets: list[int | None], crop: bool
) -> list[tuple[int, int]] | None:
    """Per spatial axis ``(before, after)``: the negative amounts that crop an image of
    ``sizes`` (height, width) to the centred box of the ``targets``' aspect ratio
    (``crop``), or the rows and columns of fill Keras adds to pad it to that ratio (the
    same number on both sides); ``None`` where a size is not known. The arithmetic is
    Keras's own (float products truncated by ``int``).

    >>> aspect_padding([16, 16], [5, 7], crop=True)  # 11 rows of 16 kept, from row 2
    [(-2, -3), (0, 0)]
    >>> aspect_padding([16, 16], [5, 7], crop=False)  # 22 columns: 3 of fill on each side
    [(0, 0), (3, 3)]
    >>> aspect_padding([10, 16], [8, 8], crop=False)
    [(3, 3), (0, 0)]
    """
    if len(sizes) != 2 or len(targets) != 2:
        return None
    (height, width), (target_height, target_width) = sizes, targets
    if not height or not width or not target_height or not target_width:
        return None
    across = int(float(width * target_height) / target_width)  # rows the ratio asks for
    along = int(float(height * target_width) / target_height)  # columns
    if crop:
        rows, columns = max(min(height, across), 1), max(min(width, along), 1)
        top, left = int(float(height - rows) / 2), int(float(width - columns) / 2)
        return [(-top, -(height - top - rows)), (-left, -(width - left - columns))]
    top = int(float(max(height, across) - height) / 2)
    left = int(float(max(width, along) - width) / 2)
    return [(top, top), (left, left)]
