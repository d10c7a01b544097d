"""Which layers a fix looks at: all downsampling layers, or those a ``select`` names — layer
paths (a module path selects every layer under it) or lint codes (``"DS101"``: the layers
that skip input).

>>> from stridescope.ir import GraphBuilder
>>> b = GraphBuilder((1, 3, 16, 16), "nchw")
>>> stem = b.conv(b.input, "stem", out_channels=8, kernel=3, stride=2, padding=1)
>>> _ = b.conv(stem, "block.down", out_channels=16, kernel=1, stride=2)
>>> g = b.build()
>>> layers_for_code(g, "DS101"), sorted(selected_names(g, ["stem", "DS101"]))
(('block.down',), ['block.down', 'stem'])
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from stridescope.errors import StridescopeError, UnknownNameError
from stridescope.geometry import effective_kernel
from stridescope.ir import Graph, OpKind
from stridescope.surgery.policies import strided

__all__ = ["LINT_CODES", "layers_for_code", "selected_names", "skipping_layers"]

_CODE = re.compile(r"^DS\d{3}$")


def skipping_layers(graph: Graph) -> tuple[str, ...]:
    """The layers that skip input (lint's DS101): windows whose stride exceeds their dilated
    kernel on some axis — a 1x1 stride-2 conv, strided slicing ``x[:, :, ::2, ::2]``.

    A stand-in computed from the IR until ``stridescope lint`` lands: lint's DS101 rule will
    replace it (same names: the node names, i.e. module paths or Keras layer names).

    >>> from stridescope.ir import GraphBuilder
    >>> b = GraphBuilder((1, 16, 16, 3), "nhwc")
    >>> x = b.conv(b.input, "conv2d_1", out_channels=8, kernel=3, stride=2)
    >>> _ = b.conv(x, "conv2d_2", out_channels=8, kernel=1, stride=2)
    >>> skipping_layers(b.build())
    ('conv2d_2',)
    """
    found = []
    for node in graph.nodes:
        w = node.window
        if w is None:
            continue
        axes = zip(w.kernel, w.stride, w.dilation, strict=True)
        if any(s > effective_kernel(k, d) for k, s, d in axes):
            found.append(node.name)
    return tuple(found)


#: lint codes a ``select`` may name, each with the function listing the layers it flags
LINT_CODES: dict[str, Callable[[Graph], tuple[str, ...]]] = {"DS101": skipping_layers}


def layers_for_code(graph: Graph, code: str) -> tuple[str, ...]:
    """The layers lint code ``code`` flags in ``graph`` (unknown codes list the known ones)."""
    if code not in LINT_CODES:
        raise UnknownNameError("lint code", code, LINT_CODES)
    return LINT_CODES[code](graph)


def _under(name: str, path: str) -> bool:
    return name == path or name.startswith(path + ".")


def selected_names(graph: Graph, select: Sequence[str] | str) -> frozenset[str]:
    """The node names ``select`` picks: each entry a lint code (``DS101``) or a layer path
    (the layer itself and every layer under it)."""
    entries = [select] if isinstance(select, str) else list(select)
    names: set[str] = set()
    for entry in entries:
        entry = entry.strip()
        if _CODE.match(entry):
            names.update(layers_for_code(graph, entry))
            continue
        found = {
            n.name for n in graph.nodes if n.kind is not OpKind.INPUT and _under(n.name, entry)
        }
        if not found:
            downsampling = [n.name for n in graph.nodes if strided(n)]
            raise StridescopeError(
                f"select: no layer {entry!r} in the model; its downsampling layers: "
                f"{', '.join(downsampling) or 'none'} (or a lint code: {', '.join(LINT_CODES)})"
            )
        names.update(found)
    return frozenset(names)
