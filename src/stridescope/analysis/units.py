"""The words and units that fit the data: a 1-D input is made of samples (axis L, layouts NCL
/ NLC), a 2-D one of pixels (H, W; NCHW / NHWC), a 3-D one of voxels (D, H, W; NCDHW /
NDHWC); with a sample rate, positions along time become milliseconds.

A sample rate (``--sample-rate HZ``) counts positions per second along the first spatial axis:
the samples of a 1-D signal, or the frames of a 3-D video ``(frames, H, W)``. A 2-D input has
no time axis, so it takes none.

>>> position_noun(1), layout_text("nchw", 1), ms_text(milliseconds(400, 16000))
('samples', 'NCL', '25 ms')
"""

from __future__ import annotations

import math
from fractions import Fraction

from stridescope.errors import StridescopeError

__all__ = [
    "axis_letters",
    "check_sample_rate",
    "layout_text",
    "milliseconds",
    "ms_text",
    "plain_number",
    "position_noun",
    "position_short",
    "size_text",
]

_NOUNS = {1: ("sample", "samples"), 2: ("pixel", "pixels"), 3: ("voxel", "voxels")}
_AXES = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}


def position_noun(rank: int, plural: bool = True) -> str:
    """What one input position of ``rank`` spatial axes is called: samples (1-D), pixels
    (2-D), voxels (3-D), positions (any other rank).

    >>> position_noun(1), position_noun(2), position_noun(3, plural=False), position_noun(0)
    ('samples', 'pixels', 'voxel', 'positions')
    """
    one, many = _NOUNS.get(rank, ("position", "positions"))
    return many if plural else one


def position_short(rank: int) -> str:
    """The unit after a number of positions in a compact message: ``px`` in 2-D, the noun
    otherwise (``3 samples``, ``2 voxels``).

    >>> position_short(2), position_short(1)
    ('px', 'samples')
    """
    return "px" if rank == 2 else position_noun(rank)


def axis_letters(rank: int) -> tuple[str, ...]:
    """Names of the spatial axes: ``L`` (1-D), ``H W`` (2-D), ``D H W`` (3-D), else
    ``a0 a1 ...``.

    >>> axis_letters(1), axis_letters(3), axis_letters(4)
    (('L',), ('D', 'H', 'W'), ('a0', 'a1', 'a2', 'a3'))
    """
    return _AXES.get(rank, tuple(f"a{i}" for i in range(rank)))


def layout_text(layout: str, rank: int) -> str:
    """A channels-first (``nchw``) or channels-last (``nhwc``) layout written for the rank of
    the input (its axes after batch and channels): ``NCL`` / ``NLC``, ``NCHW`` / ``NHWC``,
    ``NCDHW`` / ``NDHWC``; ``NL`` for rank 0, a ``(batch, samples)`` input, which has no
    channel axis; another rank keeps the layout's name.

    >>> layout_text("nchw", 1), layout_text("nhwc", 3), layout_text("nhwc", 2)
    ('NCL', 'NDHWC', 'NHWC')
    >>> layout_text("nchw", 0)
    'NL'
    """
    if rank == 0:
        return "NL"
    if rank not in _AXES:
        return layout.upper()
    axes = "".join(_AXES[rank])
    return f"NC{axes}" if layout == "nchw" else f"N{axes}C"


def check_sample_rate(sample_rate: float | None, rank: int) -> float | None:
    """``sample_rate`` if it is a positive, finite number of Hz for an input of ``rank``
    spatial axes (1: samples; 3: frames along the first axis); a one-line error otherwise.

    >>> check_sample_rate(16000, 1), check_sample_rate(None, 2)
    (16000.0, None)
    >>> check_sample_rate(16000, 2)
    Traceback (most recent call last):
    ...
    stridescope.errors.StridescopeError: --sample-rate needs a 1-D input (samples) or a 3-D one whose first axis is time (frames); received an input with 2 spatial axes
    """
    if sample_rate is None:
        return None
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int | float):
        raise StridescopeError(f"--sample-rate must be a number of Hz; received {sample_rate!r}")
    if not (math.isfinite(sample_rate) and sample_rate > 0):
        raise StridescopeError(
            f"--sample-rate must be a positive number of Hz; received {sample_rate!r}"
        )
    if rank not in (1, 3):
        raise StridescopeError(
            "--sample-rate needs a 1-D input (samples) or a 3-D one whose first axis is time "
            f"(frames); received an input with {rank} spatial axes"
        )
    return float(sample_rate)


def milliseconds(positions: float, sample_rate: float) -> float:
    """``positions`` samples (or frames) at ``sample_rate`` Hz, in milliseconds.

    >>> milliseconds(400, 16000), milliseconds(320, 16000)
    (25.0, 20.0)
    """
    return 1000.0 * positions / sample_rate


def ms_text(value: float) -> str:
    """Milliseconds: 4 significant digits, no trailing zeros, whole from 1 s up.

    >>> ms_text(25.0), ms_text(0.3125), ms_text(0.0416666), ms_text(12345.6)
    ('25 ms', '0.3125 ms', '0.04167 ms', '12,346 ms')
    """
    return f"{value:,.0f} ms" if abs(value) >= 1000 else f"{value:.4g} ms"


def size_text(sizes: tuple[int | None, ...]) -> str:
    """Sizes (spatial ones, or a whole shape) as ``HxW`` (``?`` for an unknown one).

    >>> size_text((240, 224)), size_text((None, 7))
    ('240x224', '?x7')
    """
    return "x".join("?" if n is None else str(n) for n in sizes)


def plain_number(value: int | Fraction) -> float:
    """A receptive field's jump as JSON takes it: an ``int`` where whole, else a ``float``
    (a resize by a ratio that is not whole moves fields by fractions of a pixel).

    >>> plain_number(4), plain_number(Fraction(15, 14)), plain_number(Fraction(4, 2))
    (4, 1.0714285714285714, 2)
    """
    if type(value) is int:
        return value
    return int(value) if value == int(value) else float(value)
