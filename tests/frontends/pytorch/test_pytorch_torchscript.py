"""TorchScript inside a traced model (the trace used to fail on the first compiled call, which
takes no proxy): a scripted function is traced through the Python function it was compiled
from; a compiled module's graph is read op by op (``test_pytorch_script_graphs.py``), and one
that cannot be (compiled code that branches on tensor values), like a compiled function
without its Python, is a node of its true output shape, its parameters counted there and its
cost listed as unknown; a scripted ``nn.Sequential``, also one loaded by ``torch.jit.load``,
is read layer by layer."""

from __future__ import annotations

import io
import threading

import torch
from torch import nn

from stridescope.frontends.pytorch import trace_torch
from stridescope.ir import Graph

SHAPE = (1, 3, 16, 16)


@torch.jit.script
def _swish(x: torch.Tensor) -> torch.Tensor:
    return x * torch.sigmoid(x)


def _python_swish(x: torch.Tensor) -> torch.Tensor:
    return x * torch.sigmoid(x)


class _Act(nn.Module):
    def __init__(self, act: object) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv(x))  # type: ignore[operator]


class _Around(nn.Module):
    """A compiled module between two Python layers."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, padding=1)
        self.inner = inner
        self.head = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.inner(self.stem(x)).mean((2, 3)))


class _Branchy(nn.Module):
    """Compiled code that branches on a value: it cannot run on meta tensors."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if bool(x.sum() > 1e9):
            return x
        return self.conv(x)


def _rows(graph: Graph) -> list[tuple[str, str, tuple[int | None, ...], int, int, bool]]:
    return [(n.name, n.op, n.output_shape, n.params, n.macs, n.counted) for n in graph.nodes[1:]]


def _real_shape(module: nn.Module) -> tuple[int, ...]:
    with torch.no_grad():
        return tuple(module(torch.rand(SHAPE)).shape)


def test_a_scripted_function_is_traced_as_its_python_function() -> None:
    scripted, plain = _Act(_swish), _Act(_python_swish)
    assert _rows(trace_torch(scripted, SHAPE)) == _rows(trace_torch(plain, SHAPE))
    graph = trace_torch(scripted, SHAPE)
    assert [n.op for n in graph.nodes[1:]] == ["Conv2d", "sigmoid", "mul"]
    assert not graph.uncounted and not graph.notes


def test_a_traced_function_is_traced_as_its_python_function() -> None:
    traced = torch.jit.trace(_python_swish, torch.rand(1, 8, 14, 14))
    assert _rows(trace_torch(_Act(traced), SHAPE)) == _rows(trace_torch(_Act(_python_swish), SHAPE))


def test_a_compiled_function_without_python_is_one_node_of_its_shape() -> None:
    traced = torch.jit.trace(_python_swish, torch.rand(1, 8, 14, 14))
    del traced._torchdynamo_inline  # as one compiled elsewhere
    graph = trace_torch(_Act(traced), SHAPE)
    node = graph.nodes[-1]
    assert not node.counted and node.output_shape == (1, 8, 14, 14)
    assert graph.params == 224 and not graph.notes


def test_a_compiled_module_that_branches_on_values_is_one_uncounted_node() -> None:
    model = _Around(torch.jit.script(_Branchy()))
    graph = trace_torch(model, SHAPE)
    assert graph.params == sum(p.numel() for p in model.parameters())
    assert not graph.notes  # nothing reported unused
    assert graph.output.output_shape == _real_shape(model)
    uncounted = graph.uncounted
    assert len(uncounted) == 1 and uncounted[0].params == 148
    assert uncounted[0].output_shape == (1, 4, 7, 7)
    assert "TorchScript" in uncounted[0].note
    by_name = {n.name: n for n in graph.nodes}
    assert by_name["stem"].macs == 4 * 3 * 9 * 256 and by_name["head"].macs == 8


def test_a_traced_module_inside_a_model_is_counted_op_by_op() -> None:
    inner = nn.Sequential(nn.Conv2d(4, 4, 3, stride=2), nn.ReLU())
    model, plain = _Around(torch.jit.trace(inner, torch.rand(1, 4, 16, 16))), _Around(inner)
    graph, expected = trace_torch(model, SHAPE), trace_torch(plain, SHAPE)
    assert not graph.uncounted and not graph.notes
    assert [(n.kind, n.output_shape, n.params, n.macs) for n in graph.nodes[1:]] == [
        (n.kind, n.output_shape, n.params, n.macs) for n in expected.nodes[1:]
    ]
    assert [n.name for n in graph.nodes[1:4]] == ["stem", "inner.0", "inner.1"]


def test_a_loaded_scripted_sequential_is_read_layer_by_layer() -> None:
    plain = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 4, 3))
    buffer = io.BytesIO()
    torch.jit.save(torch.jit.script(plain), buffer)
    buffer.seek(0)
    loaded = torch.jit.load(buffer)  # its parameters are plain tensors, not nn.Parameter
    graph = trace_torch(loaded, SHAPE)
    assert [(n.output_shape, n.params, n.macs) for n in graph.nodes[1:]] == [
        (n.output_shape, n.params, n.macs) for n in trace_torch(plain, SHAPE).nodes[1:]
    ]
    assert [n.name for n in graph.nodes[1:]] == ["0", "1", "2", "3"]
    assert graph.params == sum(p.numel() for p in plain.parameters()) and not graph.notes
    assert graph.output.output_shape == _real_shape(loaded)
    assert not any(hasattr(p, "_is_param") for p in loaded.parameters())  # unmarked after


def test_compiled_functions_run_as_usual_outside_the_trace() -> None:
    call = torch.jit.ScriptFunction.__call__
    trace_torch(_Act(_swish), SHAPE)
    assert torch.jit.ScriptFunction.__call__ is call
    x = torch.rand(2, 3)
    seen: list[torch.Tensor] = []
    worker = threading.Thread(target=lambda: seen.append(_swish(x)))
    worker.start()
    trace_torch(_Act(_swish), SHAPE)
    worker.join()
    assert torch.equal(seen[0], x * torch.sigmoid(x))
