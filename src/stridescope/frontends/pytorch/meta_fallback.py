"""Calls the tracer has no handler for: run once on meta tensors for their output shapes.

:class:`MetaFallback` (a base of the tracer) gives each output a node marked
``counted=False`` with a note, so tracing goes on and the summary lists the call as
uncounted; handlers that know a call's cost but not its shapes pass ``counted=True`` and
their own ``kind``, or ``run`` to give the outputs another way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import torch

from stridescope.frontends.pytorch.handler_specs import is_inplace
from stridescope.frontends.pytorch.meta_calls import map_values, meta_call, walk_values
from stridescope.frontends.pytorch.naming import spelling
from stridescope.frontends.pytorch.proxy import ShapeProxy
from stridescope.frontends.pytorch.value_sizes import sized
from stridescope.ir import OpKind

if TYPE_CHECKING:
    from stridescope.ir import GraphBuilder

__all__ = ["MetaFallback"]


class MetaFallback:
    """The meta-tensor run of a call without a handler, for one trace."""

    builder: GraphBuilder

    # (given by the tracer and its other bases)
    scoped: Callable[[str], str]
    unique: Callable[[str], str]
    take_params: Callable[[Iterable[Any]], int]
    written: Callable[[ShapeProxy, int, tuple[int, ...]], ShapeProxy]

    def fallback(
        self,
        func: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        name: str = "",
        kind: OpKind = OpKind.UNCOUNTED,
        counted: bool = False,
        op: str = "",
        params: int = 0,
        run: Callable[[], Any] | None = None,
        note: str = "",
        macs: int = 0,
    ) -> Any:
        """Run ``func`` once on meta tensors for its output shapes; one node per output.
        ``run``: what gives the outputs instead; ``params`` and ``macs``: parameters (besides
        those among the arguments) and multiply-adds counted at the first node."""
        op = op or spelling(func)
        name = name or self.scoped(op.rsplit(".", 1)[-1].strip("_") or "op")
        proxies = [a for a in walk_values((args, kwargs)) if isinstance(a, ShapeProxy)]
        parents = tuple(dict.fromkeys(p.node for p in proxies))
        params += self.take_params(walk_values((args, kwargs)))
        result = meta_call(func, args, kwargs) if run is None else run()
        if not counted and not note:
            note = f"{op} is not modelled: shape from a meta-tensor run, cost unknown"
        made: list[ShapeProxy] = []

        def wrap(value: Any) -> Any:
            if not isinstance(value, torch.Tensor):
                return value
            node = self.builder.other(
                parents,
                name if not made else self.unique(f"{name}[{len(made)}]"),
                kind=kind,
                output_shape=tuple(value.shape),
                params=params if not made else 0,
                counted=counted,
                note=note,
                op=op,
                macs=macs if not made else 0,
            )
            made.append(ShapeProxy(node, tuple(value.shape), value.dtype))
            return made[-1]

        out = map_values(result, wrap)
        sized(self, out, made[0].node if made else self.builder.size)
        if not (is_inplace(op) and proxies and args and args[0] is proxies[0]):
            return out
        if made:
            return self.written(proxies[0], made[0].node, made[0].dims)
        if op.endswith("__setitem__"):  # returns None: the written tensor is a new node
            target = proxies[0]
            node = self.builder.other(
                parents,
                name,
                kind=kind,
                output_shape=target.dims,
                counted=counted,
                note=note,
                op=op,
            )
            self.written(target, node, target.dims)
        return out
