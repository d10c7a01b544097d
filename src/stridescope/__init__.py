"""stridescope: what does this downsampling layer do to my network?

The public API is small: :func:`summary` and :func:`coverage` for any model (PyTorch, Keras 3,
a spec file), :func:`compare` for the operator zoo side by side, and :mod:`stridescope.geometry`
for the sliding-window arithmetic everything else is built on. Results are JSON-ready
dataclasses.

>>> import stridescope
>>> stridescope.geometry.output_shape((32, 32), kernel=1, stride=2, padding="same")
(16, 16)
"""

from typing import TYPE_CHECKING

from stridescope import geometry
from stridescope.api import coverage, summary

if TYPE_CHECKING:
    from stridescope.analysis.compare import compare

__all__ = ["compare", "coverage", "geometry", "summary"]
__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    """``compare`` needs torch: load it on first use so ``import stridescope`` stays light."""
    if name == "compare":
        from stridescope.analysis.compare import compare

        return compare
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
