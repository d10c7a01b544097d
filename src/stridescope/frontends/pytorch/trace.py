"""PyTorch frontend: any ``nn.Module`` → :class:`stridescope.ir.Graph`, without running kernels.

The forward runs once on a :class:`~stridescope.frontends.pytorch.proxy.ShapeProxy`, an object
that carries only a shape. Module calls are routed through the tracer for the duration of the
call (module paths, leaf modules read from their attributes, ``stridescope_ir`` leaves), torch
functions reach it through ``__torch_function__``, and every node is made by
:class:`~stridescope.ir.GraphBuilder`. The model is never moved, put in another mode, given
hooks or written to.

>>> from torch import nn
>>> net = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten())
>>> g = trace_torch(net, (1, 3, 32, 32))
>>> [(n.name, n.op, n.output_shape) for n in g.nodes[1:]]
[('0', 'Conv2d', (1, 8, 16, 16)), ('1', 'ReLU', (1, 8, 16, 16)), ('2', 'Flatten', (1, 2048))]
>>> g.params == sum(p.numel() for p in net.parameters()), g.macs
(True, 55296)
"""

from __future__ import annotations

import contextlib
import copy
import re
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, cast

import torch
from torch import nn
from torch.nn.parameter import is_lazy

from stridescope.errors import StridescopeError
from stridescope.frontends.pytorch import (
    autograd_functions,
    batch_of_one,
    compiled_calls,
    function_calls,
    module_calls,
    tensor_checks,
    unbound_methods,
    vmap_calls,
)
from stridescope.frontends.pytorch.arguments import (
    Arguments,
    arguments,
    as_list_hint,
    dtype_of,
    gradient_hint,
    graph_inputs,
    grouped,
    keyword_hint,
)
from stridescope.frontends.pytorch.buffer_guard import BufferGuard
from stridescope.frontends.pytorch.errors import InputUnbatched, LayerInputError, TraceError
from stridescope.frontends.pytorch.function_table import FUNCTIONS
from stridescope.frontends.pytorch.fx_graphs import recorded
from stridescope.frontends.pytorch.index_bounds import IndexOutOfBounds
from stridescope.frontends.pytorch.mask_inputs import assume_masks
from stridescope.frontends.pytorch.meta_calls import walk_values
from stridescope.frontends.pytorch.module_table import MODULES
from stridescope.frontends.pytorch.module_tree import (
    ModuleTree,
    model_dtype,
    module_tree,
    note_outside,
    note_unused,
    quantized_note,
    tensor_device,
)
from stridescope.frontends.pytorch.param_mode import ParameterMode, undo_writes
from stridescope.frontends.pytorch.partial_traces import stopped
from stridescope.frontends.pytorch.proxy import ShapeProxy
from stridescope.frontends.pytorch.returns import returned
from stridescope.frontends.pytorch.script_calls import call_script_function, compiled_from
from stridescope.frontends.pytorch.state_writes import put_back
from stridescope.frontends.pytorch.tensor_writes import put_back_tensors
from stridescope.frontends.pytorch.thread_state import STATE, active_tracer, set_active_tracer
from stridescope.frontends.pytorch.tracer import Tracer, retrace_modeless
from stridescope.frontends.pytorch.unbound_methods import (
    MOST,
    UnboundMethod,
    needed,
    remember,
    unbound_method,
)
from stridescope.frontends.pytorch.value_sizes import sized
from stridescope.frontends.pytorch.views import restore
from stridescope.ir import Graph, GraphBuilder

__all__ = ["trace_torch"]

_SCRIPT_FUNCTION: Any = torch.jit.ScriptFunction
_ORIGINAL_SCRIPT_CALL: Callable[..., Any] = _SCRIPT_FUNCTION.__call__
_PATCH_LOCK = threading.Lock()
# torch's warning where its indexing reads a traced index as a sequence (a real tensor indexed
# by a traced one: ``slicing._unread_iteration``), silenced while a trace runs
_AS_SEQUENCE = "Using a non-tuple sequence for multidimensional indexing"
_SILENCED = ("ignore", re.compile(_AS_SEQUENCE, re.I), UserWarning, None, 0)
_PATCH_USERS = 0


def _routed_script_call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """``torch.jit.ScriptFunction.__call__`` while a trace runs: a compiled function called
    on proxies in the tracer's thread goes to :func:`call_script_function`."""
    tracer = STATE.tracer
    if tracer is None or not any(type(v) is ShapeProxy for v in walk_values((args, kwargs))):
        return _ORIGINAL_SCRIPT_CALL(fn, *args, **kwargs)
    return call_script_function(tracer, fn, args, kwargs)


@contextmanager
def _routing(tracer: Tracer, methods: frozenset[str]) -> Iterator[None]:
    """Route module calls of this thread to ``tracer`` (:mod:`module_calls`, and torch
    functions written in Python: :mod:`function_calls`), and answer
    model code's tensor checks (:mod:`tensor_checks`); undone on exit, even on errors."""
    global _PATCH_USERS
    previous = active_tracer()
    with _PATCH_LOCK:
        if _PATCH_USERS == 0:
            module_calls.route()
            function_calls.route()
            _SCRIPT_FUNCTION.__call__ = _routed_script_call
            tensor_checks.route()
            autograd_functions.route()
            vmap_calls.route()
            compiled_calls.route()
            warnings.filterwarnings("ignore", _AS_SEQUENCE, UserWarning)  # (see below)
        _PATCH_USERS += 1
        unbound_methods.route(methods)
    set_active_tracer(tracer)
    try:
        yield
    finally:
        set_active_tracer(previous)
        with _PATCH_LOCK:
            unbound_methods.unroute(methods)
            _PATCH_USERS -= 1
            if _PATCH_USERS == 0:
                module_calls.unroute()
                function_calls.unroute()
                _SCRIPT_FUNCTION.__call__ = _ORIGINAL_SCRIPT_CALL
                tensor_checks.unroute()
                autograd_functions.unroute()
                compiled_calls.unroute()
                vmap_calls.unroute()
                with contextlib.suppress(ValueError):
                    cast(list[Any], warnings.filters).remove(_SILENCED)
                    getattr(warnings, "_filters_mutated", lambda: None)()


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def trace_torch(module: nn.Module, input_shape: Sequence[Any]) -> Graph:
    """The IR graph of ``module`` for an input of ``input_shape`` (N, C, *spatial), or for
    several inputs given as a list of shapes (``forward(x0, x1, ...)``); an argument that is
    itself a list of shapes is one list of tensors (``forward([slow, fast])``). Coverage and
    the receptive field are measured on the first tensor (without its batch axis, where a
    layer or ``image[None]`` adds one: read as a batch of one, :mod:`.batch_of_one`).

    Raises :class:`StridescopeError` (one line) for a malformed input shape, an input a layer
    cannot take (wrong rank or channels), or a forward that raises.
    """
    given = arguments(input_shape)
    module = compiled_from(module)  # torch.compile(model): the model it compiles
    try:
        graph = _graph(module, given)
    except InputUnbatched as refused:  # a layer would read (C, H, W) as a batch of one
        try:
            return _graph(module, given._replace(batch_of_one=True))
        except StridescopeError:
            raise refused from None  # (the user's slip, maybe: its first layer's error)
    if batch_of_one.adds_batch(graph):  # (``x[None]`` on a (C, H, W) input)
        with contextlib.suppress(StridescopeError):
            read = _graph(module, given._replace(batch_of_one=True))
            if batch_of_one.same_work(graph, read):
                return read
    return graph


def _graph(module: nn.Module, given: Arguments) -> Graph:
    """One reading of ``module`` for the tensors ``given`` (see :func:`trace_torch`)."""
    kind = type(module).__name__
    tree = module_tree(module)
    if any(map(is_lazy, tree.kept)):  # (a call would make their weights: a copy's)
        module = copy.deepcopy(module)
        tree = module_tree(module)
    what = " and ".join(given.labels())
    where = f"cannot trace {kind} with input shape{'s' if len(given.shapes) > 1 else ''} {what}"
    methods, found = needed(type(module)), 0  # torch.Tensor methods called unbound on x
    guard = BufferGuard(tree, type(module))  # (the buffers as they were: see buffer_guard)
    try:
        while True:
            try:
                builder, tracer = _traced(module, given, tree, where, methods)
                break
            except UnboundMethod as e:  # again, with that method routed (unbound_methods)
                if e.name in methods or found >= MOST:
                    text = f"{where}: its forward raised TypeError: {e.text}"
                    raise StridescopeError(text) from None
                methods, found = methods | {e.name}, found + 1
    finally:
        moved = guard.restore()
    if moved:
        builder.note(
            f"its forward wrote {', '.join(moved)} in place while traced; their values may "
            "have changed"
        )
    if found:
        remember(type(module), methods)
    note_unused(builder, tree, tracer.counted)
    note_outside(builder, tracer.outside)
    tracer.learn_blocks()
    return builder.build()


def _traced(
    module: nn.Module,
    given: Arguments,
    tree: ModuleTree,
    where: str,
    methods: frozenset[str],
) -> tuple[GraphBuilder, Tracer]:
    """The fast run, else the exact run (see :func:`_run`); one-line errors that begin with
    ``where``, except :class:`UnboundMethod`, raised for :func:`trace_torch` to run again."""
    try:
        builder, tracer = _run_again(module, given, tree, True, methods)
    except (LayerInputError, StridescopeError) as e:  # about the input: the same either way
        unbatched = getattr(e, "unbatched", False) and not given.batch_of_one
        raise (InputUnbatched if unbatched else StridescopeError)(
            f"{where}: {_one_line(str(e))}"
        ) from None
    except IndexOutOfBounds as e:  # read on real index values: the same either way
        raise StridescopeError(f"{where}: its forward raised IndexError: {e}") from None
    except UnboundMethod:
        raise
    except Exception:  # it read a parameter's values, or failed: the exact run decides
        try:
            builder, tracer = _run_again(module, given, tree, False, methods)
        except IndexOutOfBounds as e:
            raise StridescopeError(f"{where}: its forward raised IndexError: {e}") from None
        except (LayerInputError, TraceError, StridescopeError) as e:
            raise StridescopeError(f"{where}: {_one_line(str(e))}") from None
        except UnboundMethod:
            raise
        except Exception as e:
            if (quantized := quantized_note(tree)) and "quantized" in str(e):
                raise StridescopeError(f"{where}: {quantized}") from None
            raise StridescopeError(
                f"{where}: its forward raised {type(e).__name__}: {_one_line(str(e))}"
                f"{as_list_hint(e, given.lists)}{keyword_hint(e, module)}{gradient_hint(e)}"
            ) from None
    return builder, tracer


def _run_again(
    module: nn.Module, given: Arguments, tree: ModuleTree, fast: bool, methods: frozenset[str]
) -> tuple[GraphBuilder, Tracer]:
    """:func:`_run`, and once more where a class that had learned to run without the
    parameter mode left parameters of its own uncounted (:func:`retrace_modeless`)."""
    builder, tracer = _run(module, given, tree, fast, methods)
    if tracer.modeless and retrace_modeless(tracer, tree.params - tracer.counted.keys()):
        builder, tracer = _run(module, given, tree, fast, methods)
    return builder, tracer


def _run(
    module: nn.Module,
    given: Arguments,
    tree: ModuleTree,
    fast: bool,
    methods: frozenset[str] = frozenset(),
) -> tuple[GraphBuilder, Tracer]:
    """One traced forward, autograd on (a tensor's ``grad_fn`` tells which parameters it came
    from where the parameter mode is off). In the forwards of modules with parameters of their
    own, computations on parameters alone run under :class:`ParameterMode`, which keeps what
    each result was computed from: on meta tensors where ``fast``, else (the exact run, for a
    forward that reads their values) on real kernels."""
    dtype = model_dtype(tree)
    shapes = given.shapes
    builder, inputs, taken = graph_inputs(given, tree.paths.values(), dtype.itemsize)
    tracer = Tracer(builder, tree.paths, FUNCTIONS, MODULES)
    for name in taken:  # (no op takes an input's name)
        tracer.unique(name)
    tracer.look_for_blocks(type(module), tree.repeated)
    if not fast:  # the exact run: the forward may branch on parameter values, which blocks
        tracer.blocks = None  # do not compare; every block is traced
        tracer.exact = True
    tracer.device = tensor_device(tree, tracer.device)
    tracer.parameters, tracer.buffers = tree.kept, tree.buffers
    tracer.graph = module if recorded(module) else None
    proxies = [ShapeProxy(n, s, dtype_of(s, dtype)) for n, s in zip(inputs, shapes, strict=True)]
    tracer.dtype = dtype
    sized(tracer, proxies, 0)  # (typed inputs: token ids are int64)
    # (an attention mask beside the ids: see mask_inputs)
    assume_masks(tracer, proxies, given.keywords())
    tracer.known.measured.update(
        p.node for p in proxies if p.dtype.is_floating_point or p.dtype.is_complex
    )
    args = grouped(proxies, given)
    # the exact run computes on real kernels, but keeps track of parameters the same way
    mode = tracer.mode = ParameterMode(tracer, tree.params, real=not fast)
    tracer.frozen = any(not p.requires_grad for p in tree.kept if p is not None)
    try:
        with _routing(tracer, methods), torch.enable_grad():  # grad_fn: what a tensor came from
            _forward(tracer, module, args)
    finally:  # the model keeps no meta tensor, even from a forward that failed; a forward
        # that stored one (a cache) did all else on shapes: its graph stands
        if tracer.in_mode:  # (a forward returned a tensor computed under it)
            tracer.switch_mode(False)
        put_back(tracer.kept)
        put_back_tensors(tracer.tensors_kept)
        if fast:
            undo_writes(mode.saved, tracer.derived, tree.modules)
        tracer.mode = None  # the mode refers to the tracer: no cycle left to collect
        restore(tracer)
    return builder, tracer


def _forward(tracer: Tracer, module: nn.Module, args: tuple[list[Any], dict[str, Any]]) -> None:
    """The traced forward; a :class:`TraceError` says after which op it stopped, so a user
    can summarise the part before it (a detector's backbone before its box selection)."""
    try:
        returned(tracer, module(*args[0], **args[1]))
    except TypeError as e:  # (a method called unbound on a traced tensor: unbound_methods)
        if (name := unbound_method(e)) is None:
            raise
        raise UnboundMethod(name, _one_line(str(e))) from None
    except TraceError as e:
        if len(tracer.builder._nodes) < 2:
            raise
        if (error := stopped(tracer, e)) is not None:  # (else: a partial graph, as asked)
            raise error from None
