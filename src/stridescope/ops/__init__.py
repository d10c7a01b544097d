"""The operator zoo: downsampling operators by name, each ``(N, C_in, H, W) ->
(N, C_out, ceil(H/2), ceil(W/2))`` and each describing itself to the IR
(``stridescope_ir(builder, parent, name) -> node id``). Every one also runs on signals
``(N, C, L)`` and volumes ``(N, C, D, H, W)``: ``create_op(name, c_in, c_out, rank=1)``.

>>> from stridescope.ops import create_op, op_names
>>> op_names()[:3]
('conv1x1_s2', 'conv3x3_s2', 'maxpool_conv1x1')
"""

# Import order is registration order, the order of every table and plot.
# isort: off
from stridescope.ops import strided
from stridescope.ops import pooled
from stridescope.ops import blurpool
from stridescope.ops import space_to_depth
from stridescope.ops import polyphase
from stridescope.ops import dwsep

# isort: on
from stridescope.ops.registry import OPS, create_op, op_names, op_options

__all__ = [
    "OPS",
    "blurpool",
    "create_op",
    "dwsep",
    "op_names",
    "op_options",
    "polyphase",
    "pooled",
    "space_to_depth",
    "strided",
]
