"""Padding conventions of Keras/TensorFlow and PyTorch, resolved to ``(before, after)`` per axis.

The modes:

- ``"valid"``: no padding.
- ``"same"``: Keras/TensorFlow semantics. Total padding
  ``max((ceil(n/s) - 1) * s + (k - 1) * d + 1 - n, 0)``; the odd pixel goes at the end.
- ``"torch-same"``: PyTorch ``padding='same'``; stride 1 only, as torch enforces. The total is
  ``d * (k - 1)``, split ``total // 2`` before and the rest after.
- an ``int`` ``p``: ``(p, p)``; a pair ``(before, after)``: taken as given.
"""

from __future__ import annotations

from typing import Final, Literal

from stridescope.geometry.errors import GeometryError

__all__ = [
    "PADDING_MODES",
    "Pad",
    "PaddingArg",
    "check_window",
    "describe",
    "effective_kernel",
    "resolve_padding",
]

Pad = tuple[int, int]
PaddingMode = Literal["valid", "same", "torch-same"]
PaddingArg = str | int | tuple[int, int]
_Described = PaddingArg | tuple[int, ...]

PADDING_MODES: Final = ("valid", "same", "torch-same")


def describe(
    n: int | None, kernel: int, stride: int, dilation: int, padding: _Described | None = None
) -> str:
    """The inputs of a one-axis window, spelled for an error message.

    >>> describe(5, 7, 1, 1, (0, 0))
    'input=5, kernel=7, stride=1, dilation=1, padding=(0, 0)'
    """
    text = f"input={n}, kernel={kernel}, stride={stride}, dilation={dilation}"
    if padding is not None:
        text += f", padding={padding!r}"
    return text


def check_window(n: int | None, kernel: int, stride: int, dilation: int) -> None:
    """Raise :class:`GeometryError` unless kernel, stride and dilation are positive integers.

    >>> check_window(8, 3, 2, 1)
    >>> check_window(8, 0, 2, 1)
    Traceback (most recent call last):
    ...
    stridescope.geometry.errors.GeometryError: kernel must be a positive integer; received input=8, kernel=0, stride=2, dilation=1
    """
    plain = type(kernel) is int and type(stride) is int and type(dilation) is int
    if plain and min(kernel, stride, dilation) > 0 and (n is None or (type(n) is int and n > 0)):
        return  # the usual call: positive ints
    for name, value in (("kernel", kernel), ("stride", stride), ("dilation", dilation)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise GeometryError(
                f"{name} must be a positive integer; received "
                f"{describe(n, kernel, stride, dilation)}"
            )
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise GeometryError(
            f"input size must be a positive integer or None; received "
            f"{describe(n, kernel, stride, dilation)}"
        )


def effective_kernel(kernel: int, dilation: int = 1) -> int:
    """Span of a dilated kernel: ``(kernel - 1) * dilation + 1``.

    >>> effective_kernel(3, 2)
    5
    """
    return (kernel - 1) * dilation + 1


def resolve_padding(
    n: int | None,
    kernel: int,
    stride: int = 1,
    dilation: int = 1,
    padding: PaddingArg = "valid",
) -> Pad:
    """The padding ``(before, after)`` that a mode implies on one axis of size ``n``.

    >>> resolve_padding(32, 1, 2, 1, "same")   # the seed's 1x1 stride-2 conv: no padding
    (0, 0)
    >>> resolve_padding(5, 3, 2, 1, "same")    # total 2, split evenly
    (1, 1)
    >>> resolve_padding(6, 3, 2, 1, "same")    # total 1: the odd pixel at the end
    (0, 1)
    >>> resolve_padding(6, 4, 1, 1, "torch-same")
    (1, 2)
    """
    check_window(n, kernel, stride, dilation)
    if isinstance(padding, bool):
        raise GeometryError(
            f"padding must be one of {', '.join(PADDING_MODES)}, an int or (before, after); "
            f"received {describe(n, kernel, stride, dilation, padding)}"
        )
    if isinstance(padding, int):
        return _explicit((padding, padding), n, kernel, stride, dilation)
    if isinstance(padding, tuple):
        return _explicit(padding, n, kernel, stride, dilation)
    mode = padding.lower() if isinstance(padding, str) else padding
    if mode == "valid":
        return (0, 0)
    if mode == "same":
        if n is None:
            raise GeometryError(
                "'same' padding needs a known input size; received "
                f"{describe(n, kernel, stride, dilation, padding)}"
            )
        out = -(-n // stride)
        total = max((out - 1) * stride + effective_kernel(kernel, dilation) - n, 0)
        return (total // 2, total - total // 2)
    if mode == "torch-same":
        if stride != 1:
            raise GeometryError(
                "PyTorch padding='same' needs stride 1; received "
                f"{describe(n, kernel, stride, dilation, padding)}"
            )
        total = dilation * (kernel - 1)
        return (total // 2, total - total // 2)
    raise GeometryError(
        f"padding must be one of {', '.join(PADDING_MODES)}, an int or (before, after); "
        f"received {describe(n, kernel, stride, dilation, padding)}"
    )


def _explicit(pad: tuple[int, ...], n: int | None, kernel: int, stride: int, dilation: int) -> Pad:
    ok = len(pad) == 2 and all(
        isinstance(p, int) and not isinstance(p, bool) and p >= 0 for p in pad
    )
    if not ok:
        raise GeometryError(
            "explicit padding must be non-negative integers (before, after); received "
            f"{describe(n, kernel, stride, dilation, pad)}"
        )
    return (pad[0], pad[1])
