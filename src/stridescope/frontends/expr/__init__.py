"""Layer expressions: one layer call written as text, Keras or PyTorch spelling, parsed (never
evaluated) and added to a graph.

- :mod:`.parse`: :func:`parse_layer`, :class:`LayerCall`, :func:`add_layer`;
- :mod:`.table`: the table of layers an expression may name, with their parameters;
- :mod:`.checks`: the kinds of value an argument may take;
- :mod:`.translate`: each framework and category's arguments → one call of
  :mod:`stridescope.frontends.layers`.
"""

from stridescope.frontends.expr.parse import (
    LayerCall,
    add_layer,
    default_layout,
    known_layers,
    parse_layer,
)

__all__ = ["LayerCall", "add_layer", "default_layout", "known_layers", "parse_layer"]
