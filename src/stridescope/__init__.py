"""stridescope: what does this downsampling layer do to my network?

The public API is small: :func:`summary`, :func:`lint` and :func:`coverage` for any model
(PyTorch, Keras 3, a spec file), :func:`compare` for the operator zoo side by side, :func:`fix`
to swap a model's downsampling layers for better ones (weights kept), :func:`consistency` for
how shift-consistent a trained model is, and :mod:`stridescope.geometry` for the sliding-window arithmetic everything else is built on.
Results are JSON-ready dataclasses.

>>> import stridescope
>>> stridescope.geometry.output_shape((32, 32), kernel=1, stride=2, padding="same")
(16, 16)
"""

from stridescope import geometry
from stridescope.api import compare, consistency, coverage, fix, lint, summary

__all__ = ["compare", "consistency", "coverage", "fix", "geometry", "lint", "summary"]
__version__ = "0.1.0"
