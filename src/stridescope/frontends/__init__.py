"""Frontends: everything that turns a model description into an :class:`stridescope.ir.Graph`.

The PyTorch tracer and the target loader import torch, so they are loaded on first use: the
command line's ``--help`` and the layer-expression parser stay fast.
"""

from typing import TYPE_CHECKING

from stridescope.frontends.expr import (
    LayerCall,
    add_layer,
    default_layout,
    known_layers,
    parse_layer,
)
from stridescope.frontends.keras import read_keras
from stridescope.frontends.spec import Spec, load_spec, parse_shape, read_spec

if TYPE_CHECKING:
    from stridescope.frontends.load import load_graph, load_model, resolve_target
    from stridescope.frontends.pytorch import trace_torch
    from stridescope.frontends.weights import load_weights

_LAZY = {
    "load_graph": "stridescope.frontends.load",
    "load_model": "stridescope.frontends.load",
    "load_weights": "stridescope.frontends.weights",
    "resolve_target": "stridescope.frontends.load",
    "trace_torch": "stridescope.frontends.pytorch",
}


def __getattr__(name: str) -> object:
    """Load the torch-dependent exports on first access."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "LayerCall",
    "Spec",
    "add_layer",
    "default_layout",
    "known_layers",
    "load_graph",
    "load_model",
    "load_spec",
    "load_weights",
    "parse_layer",
    "parse_shape",
    "read_keras",
    "read_spec",
    "resolve_target",
    "trace_torch",
]
