"""Raw Keras operations no row counts, counted as the torch backend computes them.

On the torch backend an operation's ``call`` is torch code (``keras.ops.image.gaussian_blur``
a depthwise ``conv2d``, ``rgb_to_hsv`` a dozen element-wise steps, ``affine_transform``
lookups and weighted sums). Where no row of the Keras reader knows an operation, that code is
traced by the PyTorch tracer on the operation's own operands (:func:`backend_macs`): its MACs
are what the PyTorch tracer counts for that torch code, on a node of the shape Keras computes
that reads every position (the geometry inside is not carried over). Where the trace fails
or leaves something uncounted, the node stays uncounted, as before.

>>> import os; os.environ.setdefault("KERAS_BACKEND", "torch")
'torch'
>>> import keras
>>> from stridescope.frontends.keras import read_keras
>>> x = keras.Input((8, 8, 3))
>>> y = keras.ops.image.rgb_to_hsv(x)
>>> [(n.op, n.macs) for n in read_keras(keras.Model(x, y), (1, 8, 8, 3)).nodes[1:]]
[('RGBToHSV', 1088)]
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

from stridescope.frontends.keras.shapes import call_stand_ins
from stridescope.ir import GraphBuilder

__all__ = ["backend_macs"]

_CLASS: list[type] = []


def _call_module() -> type:
    """The module class that runs ``op.call`` (made on first use: torch is imported only
    where a Keras model is read on the torch backend)."""
    if not _CLASS:
        from torch import nn

        from stridescope.frontends.pytorch.meta_calls import map_values

        class Call(nn.Module):
            """``op.call`` with its arguments, the traced operands given as inputs."""

            def __init__(self, op: Any, args: Any, slots: dict[int, int]) -> None:
                super().__init__()
                self.op, self.args, self.slots = op, args, slots

            def forward(self, *tensors: Any) -> Any:
                def fill(value: Any) -> Any:
                    slot = self.slots.get(id(value))
                    return value if slot is None else tensors[slot]

                args, kwargs = map_values(self.args, fill)
                return self.op.call(*args, **kwargs)

        _CLASS.append(Call)
    return _CLASS[0]


def backend_macs(b: GraphBuilder, parents: Sequence[int], op: Any, call: Any) -> int | None:
    """The MACs the PyTorch tracer counts for ``op.call`` (an operation's or a layer's) on
    tensors of its operands' shapes
    (the torch backend's code), or ``None`` where that cannot be had: another backend, no
    traced operand, a trace that fails or leaves an op uncounted."""
    import keras

    if keras.backend.backend() != "torch" or call is None or not parents:
        return None
    from stridescope.frontends.pytorch.trace import trace_torch

    args, kwargs, stand_ins = call_stand_ins(b, parents, call)
    if len(stand_ins) != len(parents):
        return None
    if getattr(op, "_call_has_training_arg", False):  # a layer: as predict() calls it
        kwargs["training"] = False
    slots = {id(t): i for i, t in enumerate(stand_ins)}
    shapes = [tuple(1 if d is None else int(d) for d in b.shape(p)) for p in parents]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            graph = trace_torch(_call_module()(op, (args, kwargs), slots), shapes)
    except Exception:  # any failure: the operation stays uncounted
        return None
    return None if graph.uncounted else graph.macs
