"""The one error type geometry raises: a :class:`~stridescope.errors.StridescopeError`, so
every caller that turns user errors into one line (the CLI, the public API) handles it.

Geometry imports nothing else of stridescope: :mod:`stridescope.errors` is a leaf module of
the standard library only.

>>> from stridescope.errors import StridescopeError
>>> issubclass(GeometryError, StridescopeError), issubclass(GeometryError, ValueError)
(True, True)
"""

from __future__ import annotations

from stridescope.errors import StridescopeError

__all__ = ["GeometryError"]


class GeometryError(StridescopeError):
    """A sliding-window configuration that cannot be computed.

    The message always names every input that was received, so that it can be shown to a
    user as one line without a traceback.
    """
