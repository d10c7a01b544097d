"""Every torch op in PyTorch's own operator database (``op_db``: each op with sample inputs
torch's tests run) traced as a forward would call it, checked against what torch computes.

Per op, its first samples with a float32 input of two or more axes (batch first, as a model's
input is), called as a function, as a method of the input and in place where torch has those
forms, each in four ways:
- the sample's input traced, the other arguments as given: the traced output's shape and
  dtype (its bytes) are torch's (at most, with a note, where the size is the values:
  ``_AT_MOST``), or the trace is refused with a one-line reason (ops listed in ``_REFUSED``);
- its other float tensors as ``nn.Parameter`` s: the summary counts every one of them;
- every float tensor argument traced (a forward of several inputs): each input reaches the
  output (a weight the forward computed, a norm's scale made per sample, the edges ``diff``
  puts around its input), except where only the argument's shape or order is read
  (``_NOT_READ``);
- where ``FlopCounterMode`` counts FLOPs (convolutions, matmuls, attention), the products'
  MACs are half of them, with the other tensors as given and traced.

A new op torch adds, or a change of the tracer that breaks one, shows up here by name.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import torch
from torch import nn

import stridescope
from stridescope.errors import StridescopeError
from stridescope.frontends import load_graph

common = pytest.importorskip("torch.testing._internal.common_methods_invocations")

_SAMPLES = 2  # per op
_LOOKED = 8
# ops a trace refuses, each with a one-line reason:
# ops whose output's size is the input's values: taken at its largest (the note says so)
_AT_MOST = frozenset({"argwhere", "masked_select", "nonzero", "unique", "unique_consecutive"})
_REFUSED = {
    # a sparse operand: no meta kernel in torch, and dense stand-ins cannot run it (the other
    # ops without one, ctc_loss, cov, histogram, lstsq, geqrf..., trace since the twenty-third
    # session: their shapes from runs on stand-in tensors, uncounted)
    "sparse.mm": "meta",
    # torch.Tensor's C method, taken before the trace (the database holds it): a forward that
    # calls it on the tensor (x[i], 2 + x), or through torch.Tensor while it runs, traces
    **dict.fromkeys(
        ["__getitem__", "__radd__", "__rmul__", "__rdiv__", "cdouble", "cfloat"], "unbound"
    ),
}
# ops whose other tensors decide which positions are read, or only lend their shape
_NOT_READ = frozenset(
    [
        "reshape_as",
        "view_as",
        "expand_as",
        "nn.functional.fractional_max_pool2d",
        "nn.functional.fractional_max_pool3d",
    ]
)


def _float(a: Any) -> bool:
    return isinstance(a, torch.Tensor) and a.dtype == torch.float32 and a.numel() > 0


def _input(a: Any) -> bool:
    return _float(a) and a.ndim > 0  # (a further input of the forward has a shape)


def _called_on(unbound: Any) -> Callable[..., Any] | None:
    """``x.name(...)`` for torch.Tensor's method ``unbound`` (its method or in-place form,
    as a forward calls it), ``None`` where it has none."""
    name = getattr(unbound, "__name__", None)
    if name is None or not hasattr(torch.Tensor, name):
        return None

    def call(x: Any, *args: Any, **kwargs: Any) -> Any:
        return getattr(x, name)(*args, **kwargs)

    return call


def _cases() -> Iterator[tuple[str, Callable[..., Any], Any]]:
    warnings.simplefilter("ignore")
    for info in common.op_db:
        try:
            if torch.float32 not in info.supported_dtypes("cpu"):
                continue
            # (its own function: ``sample_inputs`` would walk the stack per sample, slowly)
            samples = info.sample_inputs_func(info, "cpu", torch.float32, False)
            taken = 0  # (of its first _LOOKED samples: some ops make hundreds, slowly)
            for sample in itertools.islice(samples, _LOOKED):
                x = sample.input
                if isinstance(x, torch.Tensor) and x.ndim >= 2 and _float(x):
                    yield info.name, info.op, sample
                    for form in (info.method_variant, info.inplace_variant):
                        if form is not None and (call := _called_on(form)) is not None:
                            yield info.name, call, sample
                    taken += 1
                    if taken == _SAMPLES:
                        break
        except Exception:  # an op whose samples need what this machine lacks
            continue


CASES = list(_cases())


class _Op(nn.Module):
    """``op(x, *args, **kwargs)``: the tensors at ``traced`` (positions, keyword names) are
    the forward's further inputs; with ``params``, other float tensors are parameters."""

    def __init__(self, op: Any, sample: Any, params: bool = False, traced: bool = False) -> None:
        super().__init__()
        self.op, self.args, self.kwargs = op, list(sample.args), dict(sample.kwargs)
        self.traced = [i for i, a in enumerate(self.args) if traced and _input(a)]
        self.traced_keys = [k for k, a in self.kwargs.items() if traced and _input(a)]
        self.weights = nn.ParameterList()
        for i, a in enumerate(self.args):
            if params and _float(a):
                self.weights.append(nn.Parameter(a.clone()))
                self.args[i] = self.weights[-1]

    def inputs(self, sample: Any) -> list[torch.Tensor]:
        return [sample.input, *(self.args[i] for i in self.traced)] + [
            self.kwargs[k] for k in self.traced_keys
        ]

    def forward(self, x: Any, *more: Any) -> Any:
        args, kwargs, rest = list(self.args), dict(self.kwargs), list(more)
        for i in self.traced:
            args[i] = rest.pop(0)
        for k in self.traced_keys:
            kwargs[k] = rest.pop(0)
        out = self.op(x, *args, **kwargs)
        return (out[0] if isinstance(out, tuple | list) else out) + 0  # (a node: the output)


def _ran(model: _Op, inputs: list[torch.Tensor]) -> torch.Tensor | None:
    """What torch returns, or ``None`` where it refuses this sample (or returns no tensor)."""
    try:
        with torch.no_grad():
            out = model(*(i.clone() for i in inputs))
    except Exception:
        return None
    return out if isinstance(out, torch.Tensor) else None


def _traced(model: _Op, inputs: list[torch.Tensor], name: str) -> Any:
    """The graph, or ``None`` where the trace refuses an op ``_REFUSED`` lists; any other
    refusal fails."""
    try:
        return load_graph(model, [tuple(i.shape) for i in inputs])
    except StridescopeError as error:
        if any(name == op or name.startswith(f"{op}.") for op in _REFUSED):
            assert "\n" not in str(error)
            return None
        raise AssertionError(f"{name}: {error}") from None


def _edges_ignored(name: str, sample: Any) -> bool:
    """``diff`` of order 0 returns its input as it is: torch ignores ``prepend`` and
    ``append`` then."""
    order = sample.kwargs.get("n", sample.args[0] if sample.args else 1)
    return name == "diff" and order == 0


def test_the_database_is_read() -> None:
    names = {name for name, _, _ in CASES}
    assert len(CASES) > 1500 and len(names) > 450
    assert {"add", "nn.functional.conv2d", "nn.functional.layer_norm", "diff"} <= names


def test_every_traced_output_has_torch_s_shape() -> None:
    wrong = []
    for name, op, sample in CASES:
        model = _Op(op, sample)
        inputs = model.inputs(sample)
        if (real := _ran(model, inputs)) is None:
            continue
        if (graph := _traced(model, inputs, name)) is None:
            continue
        traced = tuple(graph.output.output_shape)
        if name in _AT_MOST and traced != tuple(real.shape):  # each axis at least torch's,
            noted = any("largest" in n for n in graph.notes)  # and the note that says why
            if len(traced) != real.dim() or not noted or any(map(int.__lt__, traced, real.shape)):
                wrong.append((name, tuple(sample.input.shape), traced, real.shape))
        elif traced != tuple(real.shape):
            wrong.append((name, tuple(sample.input.shape), graph.output.output_shape, real.shape))
        elif graph.output.activation_bytes != real.numel() * real.element_size():  # its dtype
            wrong.append((name, tuple(sample.input.shape), graph.output.activation_bytes))
    assert not wrong


def test_every_parameter_an_op_reads_is_counted() -> None:
    wrong = []
    for name, op, sample in CASES:
        model = _Op(op, sample, params=True)
        inputs = model.inputs(sample)
        if not len(model.weights) or _ran(model, inputs) is None:
            continue
        graph = _traced(model, inputs, name)
        want = sum(p.numel() for p in model.parameters())
        if graph is not None and (got := stridescope.summary(graph).totals.params) != want:
            wrong.append((name, got, want))
    assert not wrong


def test_every_traced_argument_reaches_the_output() -> None:
    missed, checked = [], 0
    for name, op, sample in CASES:
        model = _Op(op, sample, traced=True)
        inputs = model.inputs(sample)
        if len(inputs) == 1 or name in _NOT_READ or _ran(model, inputs) is None:
            continue
        if (graph := _traced(model, inputs, name)) is None:
            continue
        checked += 1
        reached, stack = set(), [graph.output.id]
        while stack:
            if (i := stack.pop()) not in reached:
                reached.add(i)
                stack.extend(graph.nodes[i].parents)
        starts = [n for n in graph.nodes if n.kind.name == "INPUT"]
        assert len(starts) == len(inputs)
        if any(n.id not in reached for n in starts) and not _edges_ignored(name, sample):
            missed.append((name, [tuple(i.shape) for i in inputs]))
    assert checked > 150 and not missed


# ops whose products FlopCounterMode counts and a trace does not: randomised decompositions
# (their iterations), a fused loss, a matrix power of a 1 x 1 matrix (a multiply)
_PRODUCTS_UNCOUNTED = frozenset(
    [
        *("svd_lowrank", "pca_lowrank", "nn.functional.linear_cross_entropy"),
        "linalg.matrix_power",
        *("cov", "corrcoef", "linalg.lstsq"),  # (no meta kernel: uncounted, shapes from stand-ins)
    ]
)


def test_every_product_costs_what_flop_counter_mode_counts() -> None:
    """Convolutions, matmuls, attention: MACs equal ``FlopCounterMode``'s FLOPs / 2, with the
    op's other tensors as given and traced."""
    from torch.utils.flop_counter import FlopCounterMode

    from stridescope.ir import OpKind

    products = (OpKind.CONV, OpKind.CONV_TRANSPOSE, OpKind.LINEAR, OpKind.MATMUL)
    wrong, checked = [], set()
    for name, op, sample in CASES:
        for traced in (False, True):
            model = _Op(op, sample, traced=traced)
            inputs = model.inputs(sample)
            try:
                with FlopCounterMode(display=False) as counter, torch.no_grad():
                    model(*(i.clone() for i in inputs))
            except Exception:  # torch refuses this sample
                continue
            if not counter.get_total_flops() or name in _PRODUCTS_UNCOUNTED:
                continue
            if (graph := _traced(model, inputs, name)) is None:
                continue
            macs = sum(n.macs for n in graph.nodes if n.kind in products)
            checked.add(name)
            if 2 * macs != counter.get_total_flops():
                wrong.append((name, traced, 2 * macs, counter.get_total_flops()))
    assert len(checked) > 15 and not wrong
