"""Sliding-window geometry: pure integer arithmetic, standard library only.

The single source of truth for sizes in stridescope: output sizes, padding per axis,
which input positions are read, and receptive fields.

>>> from stridescope import geometry
>>> geometry.output_shape((32, 32), kernel=1, stride=2, padding="same")
(16, 16)
>>> geometry.read_fraction(32, kernel=1, stride=2) ** 2
0.25
"""

from stridescope.geometry.errors import GeometryError
from stridescope.geometry.interpolation import (
    ANTIALIAS,
    INTERPOLATIONS,
    adaptive_spans,
    downsampling_taps,
    placed_by_sizes,
    resize_reads,
    resize_step,
    upsampling_taps,
)
from stridescope.geometry.mask import read_counts, read_fraction, read_mask
from stridescope.geometry.output import output_shape, output_size, paddings, per_axis
from stridescope.geometry.padding import (
    PADDING_MODES,
    Pad,
    PaddingArg,
    effective_kernel,
    resolve_padding,
)
from stridescope.geometry.receptive import ReceptiveField
from stridescope.geometry.transposed import keras_transposed_padding, transposed_output_size

__all__ = [
    "ANTIALIAS",
    "INTERPOLATIONS",
    "PADDING_MODES",
    "GeometryError",
    "Pad",
    "PaddingArg",
    "ReceptiveField",
    "adaptive_spans",
    "downsampling_taps",
    "effective_kernel",
    "keras_transposed_padding",
    "output_shape",
    "output_size",
    "paddings",
    "per_axis",
    "placed_by_sizes",
    "read_counts",
    "read_fraction",
    "read_mask",
    "resize_reads",
    "resize_step",
    "resolve_padding",
    "transposed_output_size",
    "upsampling_taps",
]
