"""The one error type geometry raises."""

from __future__ import annotations

__all__ = ["GeometryError"]


class GeometryError(ValueError):
    """A sliding-window configuration that cannot be computed.

    The message always names every input that was received, so that it can be shown to a
    user as one line without a traceback.
    """
