"""User-facing errors. The CLI shows their message as one line and exits with code 2.

Standard library only: :mod:`stridescope.geometry` builds its
:class:`~stridescope.geometry.GeometryError` on :class:`StridescopeError`.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["StridescopeError", "UnknownNameError"]


class StridescopeError(ValueError):
    """Bad input from the user: the message names what was received and what is allowed."""


class UnknownNameError(StridescopeError, KeyError):
    """A name (operator, architecture, dataset, layer) that is not registered.

    >>> str(UnknownNameError("operator", "conv9", ["conv1x1_s2", "conv3x3_s2"]))
    "unknown operator 'conv9'; known: conv1x1_s2, conv3x3_s2"
    """

    def __init__(self, what: str, name: str, known: Iterable[str]) -> None:
        self.what = what
        self.name = name
        self.known = tuple(known)
        super().__init__(f"unknown {what} {name!r}; known: {', '.join(self.known)}")

    def __str__(self) -> str:
        return str(self.args[0])
