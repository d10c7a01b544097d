"""Shape-only stand-ins for tensors.

A :class:`ShapeProxy` is not a tensor: it holds a shape, a dtype and the id of the node that
produced it. Torch functions called on it reach :meth:`ShapeProxy.__torch_function__`; tensor
methods and operators reach the same dispatcher, the
:class:`~stridescope.frontends.pytorch.tracer.Tracer` of the running trace.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import torch

from stridescope.frontends.pytorch.errors import TraceError
from stridescope.frontends.pytorch.thread_state import STATE, active_tracer

__all__ = ["NO_TORCH_FUNCTION", "OPERATORS", "ROUTED", "ShapeProxy", "in_place", "integral"]

# a context in which torch calls on a traced tensor (or under the parameter mode) run as on a
# plain tensor: the tracer's own reads of shapes, versions and data pointers
NO_TORCH_FUNCTION = torch._C.DisableTorchFunction

# torch.Tensor methods set on the class while a trace runs (see ``unbound_methods``), by name:
# torch's own, which a traced tensor's method of that name hands to the tracer
ROUTED: dict[str, Any] = {}


def is_int(value: Any) -> bool:
    """An int argument: not a bool, a tensor or a traced size (shared by the indexing rules)."""
    return isinstance(value, int) and not isinstance(value, bool)


def integral(dtype: torch.dtype) -> bool:
    """Whether a tensor of ``dtype`` holds integers (not floating point, complex or bool):
    token ids, sizes.

    >>> integral(torch.int32), integral(torch.bool), integral(torch.float16)
    (True, False, False)
    """
    return not (dtype.is_floating_point or dtype.is_complex or dtype == torch.bool)


def _values(reason: str) -> Callable[..., Any]:
    def refuse(self: ShapeProxy, *args: object, **kwargs: object) -> Any:
        raise TraceError(
            f"the forward reads tensor values ({reason}); stridescope traces shapes only",
            node=self.node,
        )

    return refuse


def _known_or_refused(reason: str, cast: Callable[[Any], Any] | None = None) -> Callable[..., Any]:
    """A read of a one-element tensor: its value where the trace knows it (``known_values``:
    ``torch.isinf(x).any()`` is false), as ``cast`` gives it; else refused as
    :func:`_values` refuses."""
    refuse = _values(reason)

    def read(self: ShapeProxy, *args: object, **kwargs: object) -> Any:
        tracer = STATE.tracer  # (a one-element tensor's value, where the trace knows it)
        known = None if tracer is None or math.prod(self.dims) != 1 else tracer.known
        value = None if known is None else known.read(self.node)
        if value is None:
            return refuse(self, *args, **kwargs)
        return value if cast is None else cast(value)

    return read


class ShapeProxy:
    """A tensor stand-in: shape, dtype and the id of the node that produced it."""

    # ``viewing``, set only on a proxy a view op returned: what it views and how (``views``);
    # ``__dict__``: model code may set attributes on a tensor (``res.orig = x``, fastai)
    __slots__ = ("__dict__", "dims", "dtype", "node", "viewing")
    viewing: tuple[Any, ...]  # (the call that made it: ``views.record``), on views only

    def __init__(self, node: int, dims: tuple[int, ...], dtype: torch.dtype) -> None:
        self.node = node
        self.dims = dims
        self.dtype = dtype

    @classmethod
    def __torch_function__(
        cls,
        func: Callable[..., Any],
        types: Iterable[type],
        args: tuple[Any, ...] = (),
        kwargs: Mapping[str, Any] | None = None,
    ) -> Any:
        tracer = STATE.tracer
        if tracer is None:
            raise TraceError(_OUTSIDE)
        return tracer.call_function(func, args, dict(kwargs) if kwargs else {})

    # -- what the forward may ask about a tensor without reading values --------------------
    @property
    def shape(self) -> torch.Size:
        return torch.Size(self.dims)

    @property
    def ndim(self) -> int:
        return len(self.dims)

    @property
    def device(self) -> torch.device:
        """The traced model's device: a tensor the forward makes ``on x.device`` (a mask, a
        grid) is real there and meets the model's buffers; ``meta`` outside a trace."""
        tracer = active_tracer()
        return torch.device("meta") if tracer is None else tracer.device

    @property
    def requires_grad(self) -> bool:
        return False

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        """``x.requires_grad = True`` (wav2vec2's feature encoder does it in training): a
        shape trace keeps nothing of it, as ``x.requires_grad_()`` makes no node."""

    is_cuda = False
    # what a proxy stands for: a dense, strided tensor (``nn.MultiheadAttention`` asks
    # ``query.is_nested`` on every call; a meta run to answer it cost ~30 us)
    is_nested = False
    is_sparse = False
    is_quantized = False
    layout = torch.strided

    @property
    def data(self) -> ShapeProxy:
        """``x.data``: the same values without autograd history, the same traced tensor."""
        return self

    def set_(self, *args: Any, **kwargs: Any) -> Any:
        """``x.set_()`` releases the storage (a reversible block frees what its backward
        recomputes): nothing computed, the traced tensor left as it is; with a source, traced
        as torch's."""
        if args or kwargs:
            return _traced("set_", torch.Tensor.set_)(self, *args, **kwargs)
        return self

    @property
    def T(self) -> Any:
        """``x.T``: every axis reversed, a permute."""
        return self.__getattr__("permute")(*reversed(range(len(self.dims))))

    @property
    def mT(self) -> Any:
        """``x.mT``: the last two axes swapped."""
        return self.__getattr__("transpose")(-2, -1)

    @property
    def H(self) -> Any:
        """``x.H``: a matrix's conjugate transpose, its axes reversed as ``x.T`` (a
        conjugation moves no value)."""
        return self.T

    @property
    def mH(self) -> Any:
        """``x.mH``: the conjugate transpose of the last two axes, as ``x.mT``."""
        return self.mT

    def size(self, dim: int | None = None) -> torch.Size | int:
        return self.shape if dim is None else self.dims[dim]

    def dim(self) -> int:
        return len(self.dims)

    def numel(self) -> int:
        return math.prod(self.dims)

    def __len__(self) -> int:
        return self.dims[0]

    def __iter__(self) -> Iterator[Any]:
        tracer = STATE.tracer
        if tracer is not None and self.node in tracer.data_sized and self.dims:
            return iter([tracer.loop_once(self)])  # (its length is data: ``data_bounds``)
        return iter(self.__getattr__("unbind")())

    def __repr__(self) -> str:
        return f"ShapeProxy(node={self.node}, shape={self.dims})"

    __bool__ = _known_or_refused("bool(tensor)", bool)
    __int__ = _known_or_refused("int(tensor)", int)
    __float__ = _known_or_refused("float(tensor)", float)
    __index__ = _known_or_refused("tensor as an index", int)
    item = _known_or_refused(".item()")
    tolist = _values(".tolist()")
    numpy = _values(".numpy()")
    __array__ = _values("np.asarray(tensor)")  # (else numpy reads it element by element)

    def __getattr__(self, name: str) -> Any:
        """A tensor method (``x.view(...)``), traced: the first use of each name installs it
        on the class, so later calls find it without this lookup; a tensor property traced."""
        attr = ROUTED.get(name) or getattr(torch.Tensor, name, None)
        if attr is None or name.startswith("_"):
            raise AttributeError(f"ShapeProxy has no attribute {name!r}")
        if callable(attr):
            method = _traced(name, attr)
            setattr(ShapeProxy, name, method)
            return method.__get__(self)
        tracer = STATE.tracer
        if tracer is None:
            raise TraceError(_OUTSIDE)
        return tracer.call_function(attr.__get__, (self,), {})


def in_place(target: ShapeProxy, node: int, dims: tuple[int, ...]) -> ShapeProxy:
    """An in-place op wrote ``node`` into ``target``: the proxy the forward holds now stands
    for that node (and its shape); returned for the op's result."""
    target.node, target.dims = node, dims
    return target


_OUTSIDE = "a ShapeProxy was used outside trace_torch"


def _traced(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """A :class:`ShapeProxy` method that hands ``func(self, *args, **kwargs)`` to the tracer."""

    def method(self: ShapeProxy, *args: Any, **kwargs: Any) -> Any:
        tracer = STATE.tracer
        if tracer is None:
            raise TraceError(_OUTSIDE)
        return tracer.call_function(func, (self, *args), kwargs)

    method.__name__ = name
    return method


def _operator(name: str) -> Callable[..., Any]:
    return _traced(name, getattr(torch.Tensor, name))


OPERATORS = [
    "__add__",
    "__radd__",
    "__iadd__",
    "__sub__",
    "__rsub__",
    "__isub__",
    "__mul__",
    "__rmul__",
    "__imul__",
    "__truediv__",
    "__rtruediv__",
    "__itruediv__",
    "__matmul__",
    "__rmatmul__",
    "__neg__",
    "__abs__",
    "__pow__",
    "__rpow__",
    "__getitem__",
    "__setitem__",
    "__contains__",
    "__lt__",
    "__le__",
    "__gt__",
    "__ge__",
    "__and__",
    "__or__",
    "__xor__",
    "__rand__",
    "__ror__",
    "__rxor__",
    "__iand__",
    "__ior__",
    "__ixor__",
    "__invert__",
    "__eq__",
    "__ne__",
    "__mod__",
    "__rmod__",
    "__floordiv__",
    "__rfloordiv__",
    "__ipow__",
    "__pos__",
    "__lshift__",
    "__rlshift__",
    "__ilshift__",
    "__rshift__",
    "__rrshift__",
    "__irshift__",
    "__imod__",
    "__ifloordiv__",
]
for _name in OPERATORS:
    setattr(ShapeProxy, _name, _operator(_name))
# ``==`` builds a traced mask as on a tensor; proxies still hash by identity (dict keys, sets)
ShapeProxy.__hash__ = object.__hash__  # type: ignore[method-assign]
