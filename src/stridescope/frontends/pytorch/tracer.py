"""The tracer: turns each torch call on a :class:`ShapeProxy` into an IR node.

:class:`Tracer` looks the function up in a table of handlers that compute the output with
:class:`~stridescope.ir.GraphBuilder` (no kernel runs). Anything not in the table runs once on
meta tensors so tracing can go on; that node is marked ``counted=False`` with a note.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from stridescope.frontends.pytorch import block_copies
from stridescope.frontends.pytorch.aten_calls import aten_function, by_position
from stridescope.frontends.pytorch.block_copies import BlockCopying
from stridescope.frontends.pytorch.block_replay import Block
from stridescope.frontends.pytorch.data_bounds import DataBounds
from stridescope.frontends.pytorch.errors import NotHandled
from stridescope.frontends.pytorch.fx_graphs import run_recorded
from stridescope.frontends.pytorch.handler_specs import (
    TRACED_ONLY,
    FunctionSpec,
    ModuleHandler,
    class_handler,
)
from stridescope.frontends.pytorch.hooks import any_global_hooks, call_hooked
from stridescope.frontends.pytorch.known_values import KnownValues
from stridescope.frontends.pytorch.meta_calls import walk_values
from stridescope.frontends.pytorch.meta_fallback import MetaFallback
from stridescope.frontends.pytorch.naming import Naming, spelling
from stridescope.frontends.pytorch.outside_ops import OutsideOps
from stridescope.frontends.pytorch.param_counting import (
    PLAIN_TYPES,
    ParameterCounting,
    own_parameters,
)
from stridescope.frontends.pytorch.proxy import NO_TORCH_FUNCTION, ShapeProxy, in_place
from stridescope.frontends.pytorch.script_calls import (
    SCRIPT_MODULE,
    call_script_module,
    compiled_from,
)
from stridescope.frontends.pytorch.state_writes import WRITES, Kept, keep, writes_state
from stridescope.frontends.pytorch.tensor_writes import (
    IN_PLACE,
    Saved,
    in_place_targets,
    keep_tensors,
)
from stridescope.frontends.pytorch.value_rules import through_module
from stridescope.frontends.pytorch.value_sizes import sized
from stridescope.frontends.pytorch.views import current, promote, record, settle, write_back
from stridescope.ir import GraphBuilder, OpKind

__all__ = ["Tracer", "in_place", "own_parameters", "spelling"]

_SEQUENTIAL = nn.Sequential.forward
_CALL = nn.Module.__call__
_FLOAT32 = torch.float32
_BLOCK = (False, None)  # (by_class: not a block, no handler)
_NUMPY = {"keepdims": "keepdim", "axis": "dim"}  # numpy's keyword names, torch's
_new_proxy = object.__new__
# per class: whether its first forward under the parameter mode computed on parameters alone
# (``False``, a norm block: later ones run without it; it only saves kernels on real weights)
_WANTS_MODE: dict[type, bool] = {}


class Tracer(Naming, BlockCopying, ParameterCounting, MetaFallback, DataBounds, OutsideOps):
    """Records calls into a :class:`GraphBuilder`; one per :func:`trace_torch` call."""

    def __init__(
        self,
        builder: GraphBuilder,
        paths: Mapping[int, str],
        functions: Mapping[Any, FunctionSpec],
        modules: Mapping[Any, ModuleHandler],
    ) -> None:
        self.builder = builder
        self.paths = paths
        self.functions = functions
        self.modules = modules
        self.scope: list[str] = [""]
        self.owners: list[nn.Module | None] = [None]
        self.names, self.outside = {}, {}  # (see naming: modules outside the tree too)
        self.counted: dict[int, None] = {}
        self.repeated: set[type] = set()  # blocks traced once, copied where they repeat
        self.root: type = nn.Module
        self.small: dict[type, int] = {}
        self.spent: dict[type, list[float]] = {}
        self.traced: dict[type, list[float]] = {}
        self.blocks: dict[Any, list[Block | None]] | None = {} if block_copies.ON else None
        self.device = torch.device("cpu")  # where the model's tensors are
        self.by_class: dict[type, tuple[bool, ModuleHandler | None]] = {}
        self.mode, self.in_mode = None, False  # see ``param_mode``
        self.frozen = False  # some parameter has requires_grad=False (see ``_forward``)
        self.mode_calls = 0  # computations on parameters alone the mode ran on meta tensors
        # meta tensors computed from parameters alone, by id: (tensor, its parameters)
        self.derived: dict[int, tuple[torch.Tensor, list[nn.Parameter]]] = {}
        self.walked: dict[int, Any] = {}  # autograd nodes read (see ``param_counting``)
        self.parameters: list[Any] = []  # the model's (``param_counting.alias_of``)
        self.aliases: dict[int, list[Any]] | None = None
        self.buffer_ids: set[int] | None = None
        self.buffers: list[Any] = []  # the model's (``param_counting.alias_of``)
        self.modeless: list[nn.Module] = []  # forwards run without the mode, with parameters
        self.global_hooks = any_global_hooks()  # forward hooks every module call runs
        self.hook_calls = 0
        # tensors written through views, by id: (tensor, the views written, in order)
        self.pending: dict[int, tuple[ShapeProxy, list[ShapeProxy]]] = {}
        # real tensors a traced one was written into, by id: (tensor, its proxy now)
        self.promoted: dict[int, tuple[torch.Tensor, ShapeProxy]] = {}
        self.kept: Kept = {}  # the state of modules a forward may write (``state_writes``)
        self.tensors_kept: Saved = {}  # tensors a forward may write in place (tensor_writes)
        self.known = KnownValues(builder)  # per node: every element's value (known_values)
        self.data_sized: set[int] = set()  # nodes whose size is data, at most (data_bounds)
        self.exact = False  # the exact run (``trace._run``): TorchScript read whole
        self.graph: nn.Module | None = None  # the exported program traced, if one is (fx_graphs)
        self.dtype = _FLOAT32  # the model's (its nodes' activation bytes: ``value_sizes``)

    # -- parameters --------------------------------------------------------------------
    def constant(self, value: torch.Tensor, name: str) -> ShapeProxy:
        """A proxy for a tensor the forward computed without traced inputs: a node with no
        parents (its parameters, if any, counted there)."""
        params = self.take_params([value])
        node = self.builder.other(
            [],
            self.unique(name),
            kind=OpKind.MOVE,
            output_shape=tuple(value.shape),
            params=params,
            op="tensor",
        )
        return ShapeProxy(node, tuple(value.shape), value.dtype)

    def proxy(self, node: int, like: ShapeProxy | None = None) -> ShapeProxy:
        """The proxy of ``node`` (``like``'s dtype, else float32); its slots set here."""
        dims = self.builder._nodes[node].output_shape
        if None in dims:
            dims = tuple(d if d is not None else 1 for d in dims)
        made: ShapeProxy = _new_proxy(ShapeProxy)
        made.node = node
        made.dims = dims  # type: ignore[assignment]
        made.dtype = like.dtype if like is not None else _FLOAT32
        return made

    # -- dispatch ----------------------------------------------------------------------
    def call_function(self, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        spec = self.functions.get(func)
        if spec is None:  # an ATen overload (an exported graph's) binds one, or none does
            if (found := aten_function(self.functions, func)) is None:
                made = self.outside_call(func, args)  # (torchvision's nms, roi_align)
                return self.fallback(func, args, kwargs) if made is None else made
            try:
                return self.call_function(found[0], *found[1](args, kwargs))
            except TypeError:  # an overload's arguments the function does not take
                return self.fallback(func, args, kwargs)
        if self.promoted or self.pending:  # tensors written into, since (see ``views``)
            args, kwargs = current(self, args, kwargs)
        if spec.inplace and args and isinstance(args[0], torch.Tensor):
            args = promote(self, args, kwargs)  # written into a tensor made without x
        if kwargs and not _NUMPY.keys().isdisjoint(kwargs):  # numpy's names, torch's too
            kwargs = {_NUMPY.get(k, k): v for k, v in kwargs.items()}
        name = self.scoped(spec.name)
        mixed = bool(kwargs) or not PLAIN_TYPES.issuperset(map(type, args))  # a tensor, maybe
        # under the parameter mode, the handler's own reads of a tensor argument (its shape,
        # grad_fn, numel) would each go through the mode's Python dispatch to be passed back
        off = NO_TORCH_FUNCTION() if mixed and self.in_mode else None
        if off is not None:
            off.__enter__()
        first = len(self.builder._nodes)  # (the nodes this call makes: see ``value_sizes``)
        try:
            try:
                try:
                    out = spec.handler(self, name, spec.op, *args, **kwargs)
                except TypeError:  # keywords the handler names otherwise: by position
                    if (bound := by_position(func, args, kwargs)) is None:
                        raise
                    args, kwargs = bound
                    out = spec.handler(self, name, spec.op, *args, **kwargs)
            except NotHandled:  # declined: data movement, if the function is that, else meta
                if spec.otherwise is None:
                    return self.fallback(func, args, kwargs, name=name)
                try:
                    out = spec.otherwise(self, name, spec.op, *args, **kwargs)
                except NotHandled:
                    return self.fallback(func, args, kwargs, name=name)
            if mixed and not spec.counts:  # else no tensor among them, or all counted
                self.take_leftover(out, args, kwargs)
        finally:
            if off is not None:
                off.__exit__(None, None, None)
        if type(out) is not ShapeProxy or out.dtype is not self.dtype:
            sized(self, out, first)
        if spec.inplace and isinstance(args[0], ShapeProxy) and isinstance(out, ShapeProxy):
            return self.written(args[0], out.node, out.dims)
        if spec.view is not None:
            record(self, spec.view, args, kwargs, out)
        return out

    def written(self, target: ShapeProxy, node: int, dims: tuple[int, ...]) -> ShapeProxy:
        """An in-place op wrote ``node`` into ``target`` (and into a tensor it views)."""
        in_place(target, node, dims)
        write_back(self, target)
        return target

    def call_module(
        self, module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], hooked: bool = True
    ) -> Any:
        if hooked and (module._forward_hooks or module._forward_pre_hooks or self.global_hooks):
            self.hook_calls += 1
            return call_hooked(self.unhooked, module, args, kwargs)  # (see ``hooks``)
        if self.promoted or self.pending:
            args, kwargs = current(self, args, kwargs)
        found = self.by_class.get(type(module))
        if (
            found is not None
            and found[1] is not None
            and not found[0]
            and not kwargs
            and len(args) == 1
            and type(args[0]) is ShapeProxy
            and "forward" not in (own := module.__dict__)
            and "stridescope_ir" not in own
        ):  # the common call, layer(x), of a class with a handler: what the rest decides
            name = self.paths.get(id(module)) or self._unlisted(module)
            names = self.names  # (a name not used before, as a module path is, without a call)
            if name in names:  # (called again: its node names the layer, see ``again``)
                name = self.unique(name)
                return self.again(module, name, self._leaf(found[1], module, name, args[0]))
            names[name] = 0
            return self._leaf(found[1], module, name, args[0])
        if found == _BLOCK and "stridescope_ir" not in module.__dict__:
            # a class with neither a handler nor an IR method: its forward is traced (what
            # the rest decides for it, without looking its readers up again)
            known = self.paths.get(id(module))
            path = self._unlisted(module) if known is None else known
            if self.blocks is None or type(module) not in self.repeated:
                return self._forward(module, path, args, kwargs)
            return self.run_forward(module, path, args, kwargs)
        known = self.paths.get(id(module))
        path = self._unlisted(module) if known is None else known
        if isinstance(module, SCRIPT_MODULE):  # compiled: takes no proxy (see script_calls)
            return call_script_module(self, module, path, args, kwargs)
        if (inner := compiled_from(module)) is not module:  # torch.compile's wrapper
            return self.call_module(inner, args, kwargs)
        ir_method, handler = self._readers(module)
        if ir_method is None and handler is None:
            return self.run_forward(module, path, args, kwargs)
        if not kwargs and len(args) == 1 and type(args[0]) is ShapeProxy:
            count = 1  # the common call, module(x): no need to walk the arguments
        else:
            count = sum(isinstance(a, ShapeProxy) for a in walk_values((args, kwargs)))
        if ir_method is not None and count == 1 and isinstance(args[0], ShapeProxy):
            name = self.unique(path or type(module).__name__)
            return self.proxy(self.ir_leaf(module, ir_method, name, args[0].node), args[0])
        if handler is not None and len(args) == 1 and not kwargs:
            if count:
                return self._leaf(
                    handler, module, self.unique(path or type(module).__name__), args[0]
                )
            made = isinstance(args[0], torch.Tensor) and handler not in TRACED_ONLY
            if made and own_parameters(module):
                # a layer run on a tensor the forward made (a positional encoding): its
                # weights and MACs count, on a node standing for that tensor
                name = self.unique(path or type(module).__name__)
                return handler(self, module, name, self.constant(args[0], f"{name}.input"))
        return self.run_forward(module, path, args, kwargs)

    def _leaf(self, handler: ModuleHandler, module: nn.Module, name: str, x: Any) -> Any:
        """A layer read by its handler; the nodes it made sized by their dtype (value_sizes)."""
        first = len(self.builder._nodes)
        if "parametrizations" in module._modules and self.mode is not None:
            self._parametrized(module)
        out = handler(self, module, name, x)
        if type(out) is not ShapeProxy or out.dtype is not self.dtype:
            sized(self, out, first)
        if self.known:  # (a mask's value through a pool: see value_rules)
            through_module(self, module, x, out)
        return out

    def _parametrized(self, module: nn.Module) -> None:
        """The tensors of a layer parametrized by ``torch.nn.utils.parametrize`` (orthogonal,
        spectral or weight norm), computed once under the parameter mode before its handler
        reads the layer: the products they take each forward (an orthogonal map's matrix
        product, spectral norm's ``mv``) are nodes of their own, named by the parametrization.
        Its parameters are held as counted meanwhile, so the layer's node counts them."""
        parametrizations = module._modules["parametrizations"]
        if parametrizations is None:
            return
        lent = [p for p in parametrizations.parameters() if id(p) not in self.counted]
        self.counted.update(dict.fromkeys(map(id, lent)))
        entry = self.in_mode
        if not entry:
            self.switch_mode(True)
        try:
            for tensor in parametrizations._modules:
                getattr(module, tensor)
        finally:
            if not entry:
                self.switch_mode(False)
            for p in lent:
                del self.counted[id(p)]

    def unhooked(self, module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return self.call_module(module, args, kwargs, hooked=False)

    def _readers(self, module: nn.Module) -> tuple[Any, ModuleHandler | None]:
        """The module's ``stridescope_ir`` method and the handler of its class's forward
        (``None`` where it has none, or overrides ``forward`` on the instance); what the class
        offers is looked up once per class."""
        cls = type(module)
        found = self.by_class.get(cls)
        if found is None:
            found = self.by_class[cls] = (
                callable(getattr(cls, "stridescope_ir", None)),
                class_handler(self.modules, cls),
            )
        has_ir, handler = found
        own = module.__dict__
        ir_method = None
        if has_ir or "stridescope_ir" in own:
            ir_method = getattr(module, "stridescope_ir", None)
        return (ir_method if callable(ir_method) else None), None if "forward" in own else handler

    def _forward(
        self, module: nn.Module, path: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        """Trace inside ``module.forward``: calls there are named under ``path``. Only the
        forward of a module with parameters of its own runs under :attr:`mode` (where it may
        compute on them alone), unless its class's first forward under the mode (in this
        process) computed nothing on parameters alone (a norm block: the mode would only route
        its calls); and a forward handed a tensor computed under the mode (a rotary embedding
        made once). Should another compute on parameters, it runs on real kernels, as the
        exact trace does; one returning a tensor computed under the mode leaves the mode on
        for its caller (``emb(ids)[:, :, None]``). What it may write is kept (state_writes)."""
        self.scope.append(path)
        self.owners.append(module)
        if WRITES.get(cls := type(module), True) and writes_state(cls):
            keep(self.kept, module, caches=self.mode is not None)
        if (targets := IN_PLACE.get(cls)) is None:
            targets = in_place_targets(cls)
        if targets:
            keep_tensors(self.tensors_kept, module, targets)
        # (a model with frozen parameters: every forward, since an op on one leaves no
        # grad_fn to find it by where a forward is run by calling .forward() itself)
        own = (bool(module._parameters) and _WANTS_MODE.get(cls, True)) or self.frozen
        if not own and module._parameters:  # (learned: see ``retrace_modeless``)
            self.modeless.append(module)
        wants = self.mode is not None and (own or self.handed(args, kwargs))
        entry, out = self.in_mode, None
        before = self.mode_calls
        if wants != entry and (wants or _on_top(self.mode)):
            self.switch_mode(wants)
        try:
            # nn.Sequential's own forward, without its iterator and two frames per layer
            sequential = cls.forward is _SEQUENTIAL and "forward" not in module.__dict__
            if sequential and len(args) == 1 and not kwargs:
                out, call = args[0], self.call_module
                for layer in module._modules.values():  # (a __call__ of its own: run as torch)
                    plain = type(layer).__call__ is _CALL
                    out = call(layer, (out,), {}) if plain else layer(out)  # type: ignore[arg-type, misc]
                return out
            if module is not self.graph:
                out = module.forward(*args, **kwargs)
            else:  # an exported program's graph: node by node, named by module (fx_graphs)
                out = run_recorded(self, module, args, kwargs)
            if self.pending:  # what it returns leaves the forward as it is now
                settle(self, out)
            return out
        finally:  # the caller's state again (see above)
            if self.in_mode != entry and (entry or not self.handed((out,), {})):
                self.switch_mode(entry)
            if wants and cls not in _WANTS_MODE and not self.frozen and out is not None:
                _WANTS_MODE[cls] = self.mode_calls != before  # (a forward that returned)
            self.scope.pop()
            self.owners.pop()


def retrace_modeless(tracer: Tracer, left: set[int]) -> bool:
    """Whether a trace must run again because a forward its class had learned to run without
    the parameter mode left parameters of its own uncounted (the class's first forward
    computed nothing on parameters alone; this one did, where autograd cannot see it, as
    under ``torch.no_grad()``): such classes run under the mode from now on."""
    found = {
        type(m)
        for m in tracer.modeless
        if any(id(p) in left for p in m._parameters.values() if p is not None)
    }
    for cls in found:
        _WANTS_MODE[cls] = True
    return bool(found)


def _on_top(mode: Any) -> bool:
    """Whether ``mode`` is the innermost torch function mode (a forward may push its own)."""
    depth = torch._C._len_torch_function_stack()
    return depth > 0 and torch._C._get_function_stack_at(depth - 1) is mode
