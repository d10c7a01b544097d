"""Small text formats shared by the analyses' messages and renderings."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["axes_text", "number_text", "percent"]


def percent(fraction: float) -> str:
    """``0.25 -> '25%'``, ``0.2899 -> '29%'``, ``0.995 -> '99.5%'``; a share with exactly one
    decimal keeps it (``0.125 -> '12.5%'``: a 1x1x1 stride-2 conv, not a rounded '12%'); a
    share short of all is never written as all (``15999 / 16000 -> '99.99%'``: one sample
    unread), nor a share above none as none.

    >>> percent(0.25), percent(49 / 169), percent(0.995), percent(0.125), percent(0.0625)
    ('25%', '29%', '99.5%', '12.5%', '6%')
    >>> percent(15999 / 16000), percent(1 / 16000)
    ('99.99%', '0.0063%')
    """
    value = fraction * 100
    if abs(value - round(value)) < 1e-9:
        return f"{value:.0f}%"
    if value >= 99 or abs(value - round(value, 1)) < 1e-9:
        text = f"{value:.1f}%"
    else:
        text = f"{value:.0f}%"
    digits = 1
    while float(text[:-1]) in (0.0, 100.0) and digits < 12:  # (short of all, above none)
        digits += 1
        text = f"{value:.{digits}f}%" if value >= 99 else f"{value:.{digits}g}%"
    return text


def axes_text(values: Sequence[object]) -> str:
    """Per-axis values joined the way shapes are written: ``(3, 3) -> '3x3'``.

    >>> axes_text((3, 3)), axes_text((0.5, 0.0)), axes_text([7])
    ('3x3', '0.5x0', '7')
    """
    return "x".join(number_text(v) for v in values)


def number_text(value: object) -> str:
    """A whole number as it is, a fraction with 4 significant digits (a jump of 15/14 px).

    >>> number_text(4), number_text(2.0), number_text(1.0714285714285714), number_text("?")
    ('4', '2', '1.071', '?')
    """
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:.4g}"
    return str(value)
