"""The intermediate representation shared by every frontend and analysis.

>>> from stridescope.ir import GraphBuilder
>>> b = GraphBuilder((1, 3, 32, 32), "nchw")
>>> p = b.pool(b.input, "pool", mode="max", kernel=2)
>>> b.build().nodes[p].output_shape
(1, 3, 16, 16)
"""

from stridescope.ir.builder import (
    PAD_MODES,
    GraphBuilder,
    IntOrTuple,
    LayerError,
    fft_macs,
    reduced_shape,
)
from stridescope.ir.graph import (
    Graph,
    Layout,
    Node,
    OpKind,
    Resample,
    Shape,
    Window,
    channel_axis,
    shape_list,
    spatial_axes,
)

__all__ = [
    "PAD_MODES",
    "Graph",
    "GraphBuilder",
    "IntOrTuple",
    "LayerError",
    "Layout",
    "Node",
    "OpKind",
    "Resample",
    "Shape",
    "Window",
    "channel_axis",
    "fft_macs",
    "reduced_shape",
    "shape_list",
    "spatial_axes",
]
