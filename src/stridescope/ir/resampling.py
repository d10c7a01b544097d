"""The windows a resize by whole factors reads through (see ``GraphBuilder.resize``): a
transposed window (:attr:`Node.scatter`) for an upsampling, a sliding window
(:attr:`Node.window`) for a downsampling, from geometry's taps of each interpolation; any
other resize of a modelled interpolation reads through its own source coordinates
(:attr:`Node.resample`: coverage and the receptive field, each output through its own
inputs)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

from stridescope.geometry import (
    GeometryError,
    downsampling_taps,
    placed_by_sizes,
    upsampling_taps,
)
from stridescope.ir.builder_core import BuilderCore, LayerError, in_layer
from stridescope.ir.graph import OpKind, Resample, Shape, Window

__all__ = ["ResizeOps", "repeated", "resampled", "resized", "upsampled"]


def upsampled(factors: tuple[int, ...], interpolation: str) -> Window | None:
    """The transposed window of an upsampling of ``interpolation`` by ``factors`` (one per
    spatial axis), or ``None`` for an interpolation not modelled.

    >>> upsampled((2, 2), "bilinear").kernel, upsampled((2,), "lanczos3")
    ((4, 4), None)
    """
    taps = [t for s in factors if (t := upsampling_taps(s, interpolation)) is not None]
    if len(taps) != len(factors):
        return None
    return Window(
        tuple(k for k, _ in taps),
        factors,
        (1,) * len(factors),
        tuple((b, k - s - b) for (k, b), s in zip(taps, factors, strict=True)),
    )


def repeated(
    shape: Shape,
    out: Shape,
    spatial: Callable[[Shape], Shape],
    repeat: Sequence[int],
    interpolation: str | None,
) -> Window | None:
    """:func:`upsampled` by ``repeat`` (nearest unless ``interpolation`` says), checked
    against the shapes (``spatial`` gives a shape's spatial sizes).

    >>> spatial = lambda s: s[2:]
    >>> repeated((1, 3, 8, 8), (1, 3, 9, 9), spatial, (2, 2), None)
    Traceback (most recent call last):
    ...
    stridescope.geometry.errors.GeometryError: repeating (1, 3, 8, 8) by (2, 2) does not give (1, 3, 9, 9)
    """
    factors, sizes = tuple(int(s) for s in repeat), spatial(shape)
    expected = tuple(None if n is None else n * s for n, s in zip(sizes, factors, strict=False))
    if len(factors) != len(sizes) or expected != spatial(out) or min(factors) < 1:
        raise GeometryError(f"repeating {shape!r} by {factors!r} does not give {out!r}")
    return upsampled(factors, interpolation or "nearest")


@functools.lru_cache(maxsize=256)
def resampled(sizes: Shape, out: Shape, interpolation: str) -> tuple[Window | None, Window | None]:
    """``(window, scatter)`` of a resize of spatial ``sizes`` to ``out`` with half-pixel
    centres: every axis upsampled by a whole factor gives a scatter, every axis downsampled
    by one a window (``(None, None)`` otherwise).

    >>> resampled((8, 8), (4, 4), "nearest")[0].stride, resampled((4, 4), (8, 8), "nearest")[1]
    ((2, 2), Window(kernel=(2, 2), stride=(2, 2), dilation=(1, 1), padding=((0, 0), (0, 0)), ceil_mode=False, pad_mode='zeros'))
    >>> resampled((8, 8), (4, 4), "bilinear")[0].kernel, resampled((8,), (2,), "bilinear")[0]
    ((2, 2), Window(kernel=(2,), stride=(4,), dilation=(1,), padding=((-1, -1),), ceil_mode=False, pad_mode='zeros'))
    """
    if len(sizes) != len(out) or not all(sizes) or not all(out):  # (None or 0: no window)
        return None, None
    pairs = [(int(n or 0), int(o or 0)) for n, o in zip(sizes, out, strict=True)]
    if all(o % n == 0 for n, o in pairs):
        return None, upsampled(tuple(o // n for n, o in pairs), interpolation)
    if not all(n % o == 0 for n, o in pairs):
        return None, None
    taps = []
    for n, o in pairs:
        found = downsampling_taps(n // o, interpolation)
        if found is None:
            return None, None
        taps.append((found, n // o))
    window = Window(
        tuple(k for (k, _), _ in taps),
        tuple(s for _, s in taps),
        (1,) * len(taps),
        tuple((b, k - b - s) for (k, b), s in taps),
    )
    return (window, None) if window.output_spatial(sizes) == out else (None, None)


def resized(
    sizes: Shape,
    out: Shape,
    interpolation: str,
    align_corners: bool = False,
    scales: Sequence[float | None] | None = None,
) -> tuple[Window | None, Window | None, Resample | None]:
    """``(window, scatter, resample)`` of a resize of spatial ``sizes`` to ``out``: the
    window of :func:`resampled` where there is one (half-pixel centres, whole factors),
    else the resize read through its coordinates (``scales``: the ``scale_factor`` given per
    axis); all ``None`` for an interpolation not modelled.

    >>> resized((8, 8), (4, 4), "bilinear")[0].stride, resized((8,), (3,), "nearest")[2]
    ((2, 2), Resample(mode='nearest', align_corners=False, scales=(None,), picks=()))
    """
    given = tuple(scales) if scales is not None else (None,) * len(sizes)
    if len(given) != len(sizes) or len(out) != len(sizes):
        return None, None, None
    nearest = interpolation in ("nearest", "nearest-exact")
    placed = all(
        n is None or o is None or placed_by_sizes(n, o, s)
        for n, o, s in zip(sizes, out, given, strict=True)
    )  # (a scale factor whose inverse is not the sizes' ratio puts the sources elsewhere)
    if (nearest or not align_corners) and placed:
        window, scatter = resampled(tuple(sizes), tuple(out), interpolation)
        if window is not None or scatter is not None:
            return window, scatter, None
    resample = Resample(interpolation, align_corners and not nearest, given)
    return (None, None, None) if resample.reads(sizes, out) is None else (None, None, resample)


class ResizeOps(BuilderCore):
    """The node method for resizes (a base of :class:`~stridescope.ir.GraphBuilder`)."""

    def resize(
        self,
        parent: int,
        name: str,
        *,
        kind: OpKind,
        output_shape: Shape,
        op: str = "",
        repeat: Sequence[int] | None = None,
        interpolation: str | None = None,
        align_corners: bool = False,
        scales: Sequence[float | None] | None = None,
    ) -> int:
        """An op that changes spatial size (interpolate, pixel shuffle; the frontend gives
        the output shape). A resize by whole factors of a known ``interpolation`` reads
        through a transposed window up, a sliding one down, any other through its source
        coordinates (``align_corners``; ``scales``: the scale factors given), see
        :mod:`~stridescope.ir.resampling`; ``repeat`` asks for an upsampling by its factors
        (nearest unless ``interpolation`` says), an error where the shapes disagree.

        >>> from stridescope.ir import GraphBuilder
        >>> b = GraphBuilder((1, 2, 6, 8), "nchw")
        >>> down = b.resize(0, "d", kind=OpKind.INTERPOLATE, output_shape=(1, 2, 3, 4),
        ...                 interpolation="nearest")
        >>> up = b.resize(down, "u", kind=OpKind.INTERPOLATE, output_shape=b.shape(0), repeat=(2, 2))
        >>> b.build().nodes[down].window.read_fraction((6, 8)), b.build().nodes[up].scatter.stride
        (0.25, (2, 2))
        """
        shape = self._nodes[parent].output_shape
        out = tuple(output_shape)
        window = scatter = resample = None
        if repeat is not None:
            try:
                scatter = repeated(shape, out, self._spatial, repeat, interpolation)
            except GeometryError as error:
                raise in_layer(name, error) from None
        if scatter is None and interpolation is not None:  # (linear by an odd factor too)
            sizes = (self._spatial(shape), self._spatial(out))
            window, scatter, resample = resized(*sizes, interpolation, align_corners, scales)
        return self._add(
            name,
            kind,
            (parent,),
            shape,
            out,
            window=window,
            scatter=scatter,
            op=op,
            resample=resample,
        )

    def picked(
        self,
        parent: int,
        name: str,
        *,
        picks: Sequence[Sequence[int] | None],
        output_shape: Shape | None = None,
        op: str = "",
    ) -> int:
        """Data movement that puts positions elsewhere along their own axes (``flip``,
        ``roll``, an index of constants along a spatial axis): per spatial axis of the
        parent, the input position of each output (``None``: the axis as it is). Coverage
        reads it output by output, as a resize through its source coordinates
        (:class:`~stridescope.ir.Resample`, mode ``"picks"``); the receptive field after it
        is unknown where it moves positions (no pattern to their fields); 0 MACs.

        >>> from stridescope.ir import GraphBuilder
        >>> b = GraphBuilder((1, 2, 6, 8), "nchw")
        >>> rows = b.picked(0, "rows", picks=((0, 3, 5), None))  # x[:, :, [0, 3, 5]]
        >>> node = b.build().nodes[rows]
        >>> node.kind, node.output_shape, node.resample.read_fraction((6, 8), (3, 8))
        (<OpKind.MOVE: 'move'>, (1, 2, 3, 8), 0.5)
        """
        shape = self._nodes[parent].output_shape
        axes = tuple(None if p is None else tuple(int(i) for i in p) for p in picks)
        if len(axes) != len(self._spatial(shape)):
            raise LayerError(name, f"{len(axes)} axes of picks for {shape!r}")
        spatial = tuple(
            n if p is None else len(p) for n, p in zip(self._spatial(shape), axes, strict=True)
        )
        out = self._with(shape, self._channels(shape), spatial)
        if output_shape is not None:  # (other axes may change: a tile of the channels too)
            given = tuple(output_shape)
            if len(given) != len(shape) or self._spatial(given) != spatial:
                raise LayerError(name, f"picks {axes!r} of {shape!r} do not give {given!r}")
            out = given
        resample = Resample("picks", picks=axes)
        return self._add(  # (the layout's axes, where the picks are)
            name, OpKind.MOVE, (parent,), shape, out, op=op, resample=resample, spatial_at=None
        )
