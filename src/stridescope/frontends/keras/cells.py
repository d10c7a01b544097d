"""``keras.layers.RNN`` of a cell of the user's own (no ``LSTMCell`` / ``GRUCell`` /
``SimpleRNNCell``): one step read as a custom layer is (:mod:`.expand`: the cell's ``call``
on symbolic stand-ins of one step's input and states, each operation counted), its MACs
times the steps; one product node for the sequence, as the built-in recurrent layers are
(params from ``count_params()``, the states it returns 0-MAC nodes beside it). A step with
an operation that is not counted leaves the layer one uncounted node per output.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

from stridescope.frontends.keras.expand import Read, add_custom_layer
from stridescope.frontends.keras.operations import uncounted
from stridescope.frontends.keras.shape_handlers import with_states
from stridescope.ir import GraphBuilder

__all__ = ["custom_cell_rnn"]


def custom_cell_rnn(
    b: GraphBuilder,
    parents: Sequence[int],
    layer: Any,
    c: dict[str, Any],
    name: str,
    *,
    read: Read,
) -> list[int]:
    """The handler of an ``RNN`` of a custom cell on ``(batch, steps, features)`` (``read``:
    the layer table's reader, for the cell's sub-layers): see the module."""
    shape = b.shape(parents[0])
    if len(shape) != 3 or None in shape:
        return uncounted(b, parents, layer, None, name)
    batch, steps, features = (int(d or 0) for d in shape)
    macs = _step_macs(b, layer.cell, batch, features, read)
    if macs is None:
        return uncounted(b, parents, layer, None, name)
    return with_states(b, parents, layer, name, steps * macs)


def _step_macs(b: GraphBuilder, cell: Any, batch: int, features: int, read: Read) -> int | None:
    """The MACs of one step of ``cell`` (a batch of ``features``), or ``None`` where some
    part of it is not counted."""
    import keras

    size = cell.state_size
    sizes = list(size) if isinstance(size, list | tuple) else [size]
    if not sizes or not all(isinstance(s, int) for s in sizes):
        return None
    step = GraphBuilder((batch, features), b.layout)
    states = [step.add_input((batch, s), f"state{i}") for i, s in enumerate(sizes)]
    x = keras.KerasTensor((batch, features))
    held = [keras.KerasTensor((batch, s)) for s in sizes]
    call = SimpleNamespace(arguments=SimpleNamespace(args=(x, held), kwargs={}), outputs=[])
    try:
        add_custom_layer(step, [step.input, *states], cell, call, "cell", read, set())
    except Exception:  # (the cell read whole, of no shape Keras computes): not counted
        return None
    graph = step.build()
    return None if graph.uncounted else graph.macs
