"""trace_torch leaves the model as it was, runs no kernel on real data, and fails in one line."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules import module as module_globals
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from stridescope.errors import StridescopeError
from stridescope.frontends import trace_torch
from tests.frontends.pytorch.resnet_models import FunctionalNet, resnet50, seed_cnn

ORIGINAL_CALL = nn.Module.__call__
ORIGINAL_IMPL = nn.Module._call_impl
ORIGINAL_CODE = ORIGINAL_IMPL.__code__
ORIGINAL_CALL_CODE = ORIGINAL_CALL.__code__
ORIGINAL_HANDLE_CODE = torch.overrides.handle_torch_function.__code__
ORIGINAL_NONE_OR_DTYPE = F._none_or_dtype
ORIGINAL_HELPERS = (torch.is_tensor, torch.as_tensor, torch.jit.isinstance)


class KernelRecorder(TorchDispatchMode):
    """Records every aten kernel call and the devices of its tensor arguments."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, set[str]]] = []

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        tensors = [a for a in tree_leaves((args, kwargs)) if isinstance(a, torch.Tensor)]
        self.calls.append((str(func), {t.device.type for t in tensors}))
        return func(*args, **(kwargs or {}))


class Raises(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn(self.conv(x))
        raise ValueError("boom\nsecond line")


def snapshot(model: nn.Module) -> dict[str, Any]:
    return {
        "state": {k: v.detach().clone() for k, v in model.state_dict().items()},
        "training": [m.training for m in model.modules()],
        "devices": {p.device for p in model.parameters()},
        "dtypes": {p.dtype for p in model.parameters()},
        "grad": [p.requires_grad for p in model.parameters()],
    }


def assert_untouched(model: nn.Module, before: dict[str, Any], hook_calls: list[str]) -> None:
    after = snapshot(model)
    assert after["training"] == before["training"]
    assert after["devices"] == before["devices"] and after["dtypes"] == before["dtypes"]
    assert after["grad"] == before["grad"]
    assert before["state"].keys() == after["state"].keys()
    for key, value in before["state"].items():
        assert torch.equal(value, after["state"][key]), key
    assert nn.Module.__call__ is ORIGINAL_CALL and ORIGINAL_CALL.__code__ is ORIGINAL_CALL_CODE
    assert nn.Module._call_impl is ORIGINAL_IMPL and ORIGINAL_IMPL.__code__ is ORIGINAL_CODE
    assert torch.overrides.handle_torch_function.__code__ is ORIGINAL_HANDLE_CODE
    assert F._none_or_dtype is ORIGINAL_NONE_OR_DTYPE
    assert (torch.is_tensor, torch.as_tensor, torch.jit.isinstance) == ORIGINAL_HELPERS
    assert not module_globals._global_forward_hooks
    assert not module_globals._global_forward_pre_hooks
    for m in model.modules():
        if m is model:
            continue
        assert not m._forward_hooks and not m._forward_pre_hooks and not m._backward_hooks
    # the user's own hook was kept, and run as a call runs it (not where the forward raised)
    assert hook_calls == ([] if isinstance(model, Raises) else ["called"])


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("factory", [seed_cnn, FunctionalNet, Raises], ids=lambda f: f.__name__)
def test_model_untouched(factory: Any, training: bool) -> None:
    torch.manual_seed(0)
    model = factory().train(training)
    hook_calls: list[str] = []
    handle = model.register_forward_hook(lambda *a: hook_calls.append("called"))
    before = snapshot(model)
    if factory is Raises:
        with pytest.raises(StridescopeError):
            trace_torch(model, (1, 3, 16, 16))
    else:
        trace_torch(model, (1, 3, 32, 32))
    assert list(model._forward_hooks) == [handle.id]
    handle.remove()
    assert_untouched(model, before, hook_calls)


def test_no_kernel_runs_on_real_tensors() -> None:
    model, x = FunctionalNet().train(), torch.randn(1, 3, 16, 16)
    recorder = KernelRecorder()
    with recorder:
        model(x)  # the recorder does see a real forward ...
    assert any("convolution" in name for name, _ in recorder.calls)
    recorder, seed = KernelRecorder(), seed_cnn()
    with recorder:
        trace_torch(model, (1, 3, 16, 16))
        trace_torch(seed, (1, 3, 32, 32))
    assert recorder.calls == []  # ... and nothing at all during tracing


def test_unknown_ops_run_on_meta_only() -> None:
    class Odd(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = torch.sort(self.conv(x), dim=1).values.cumsum(2)  # counted from meta runs
            return torch.linalg.matrix_exp(y)  # not modelled: uncounted

    recorder, model = KernelRecorder(), Odd()
    with recorder:
        g = trace_torch(model, (1, 3, 9, 9))
    assert recorder.calls and all(devices <= {"meta"} for _, devices in recorder.calls)
    assert not any("convolution" in name for name, _ in recorder.calls)
    assert g.output.output_shape == (1, 3, 7, 7) and not g.output.counted


def test_meta_model_traces_and_stays_on_meta() -> None:
    model = resnet50(device="meta")
    g = trace_torch(model, (2, 3, 64, 64))
    assert g.output.output_shape == (2, 1000)
    assert {p.device.type for p in model.parameters()} == {"meta"}


@pytest.mark.parametrize(
    ("shape", "words"),
    [
        ((3, 32, 32), ["(3, 32, 32)", "layer '0' (Conv2d)", "4-D input (N, C, H, W) with C=3"]),
        ((1, 1, 3, 32, 32), ["(1, 1, 3, 32, 32)", "4-D input"]),
        ((1, 1, 32, 32), ["with C=3", "received shape (1, 1, 32, 32)"]),
        ((1, 3, 40, 40), ["layer '8' (Linear)", "last axis of 3136", "(1, 5184)"]),
        ((1, 3, 2, 2), ["output size would be 0"]),
        ((1, 0, 32, 32), ["sizes must be positive", "(1, 0, 32, 32)"]),
        ((32,), ["batch size followed by sizes", "(32,)"]),
    ],
)
def test_bad_input_shape_is_one_line(shape: tuple[int, ...], words: list[str]) -> None:
    with pytest.raises(StridescopeError) as info:
        trace_torch(seed_cnn(), shape)
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message
    assert nn.Module.__call__ is ORIGINAL_CALL
    assert nn.Module._call_impl is ORIGINAL_IMPL
    assert F._none_or_dtype is ORIGINAL_NONE_OR_DTYPE
    assert (torch.is_tensor, torch.as_tensor, torch.jit.isinstance) == ORIGINAL_HELPERS


def test_forward_that_raises_is_named() -> None:
    with pytest.raises(StridescopeError) as info:
        trace_torch(Raises(), (1, 3, 8, 8))
    assert str(info.value) == (
        "cannot trace Raises with input shape (1, 3, 8, 8): its forward raised ValueError: "
        "boom second line"
    )


def test_value_dependent_forward_is_refused() -> None:
    class Gate(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x if x.mean() > 0 else -x

    with pytest.raises(StridescopeError, match=r"reads tensor values \(bool\(tensor\)\)"):
        trace_torch(Gate(), (1, 3, 4, 4))


class Normed(nn.Module):
    """Calls torch functions written in Python (``F.layer_norm``, ``F.batch_norm``)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.norm = nn.LayerNorm(8)
        self.register_buffer("mean", torch.zeros(8))
        self.register_buffer("var", torch.ones(8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.batch_norm(self.conv(x), self.mean, self.var)
        return F.layer_norm(x.permute(0, 2, 3, 1), (8,), self.norm.weight, self.norm.bias)


def test_other_threads_call_modules_normally_during_a_trace() -> None:
    traced, real, x = resnet50(device="meta"), seed_cnn(), torch.randn(1, 3, 32, 32)
    normed = Normed()
    outputs: list[object] = []
    done = threading.Event()

    def worker() -> None:
        while not done.is_set():
            outputs.append(real(x))
            outputs.append(normed(x))

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        for _ in range(20):
            assert trace_torch(traced, (1, 3, 64, 64)).params == 25_557_032
    finally:
        done.set()
        thread.join()
    assert outputs and all(isinstance(y, torch.Tensor) for y in outputs)
    assert {tuple(y.shape) for y in outputs} == {(1, 10), (1, 30, 30, 8)}  # type: ignore[attr-defined]
    assert nn.Module.__call__ is ORIGINAL_CALL
    assert nn.Module._call_impl is ORIGINAL_IMPL
    assert F._none_or_dtype is ORIGINAL_NONE_OR_DTYPE


def test_a_call_impl_replaced_by_someone_else_is_routed_and_given_back() -> None:
    """A profiler that replaced ``nn.Module._call_impl`` before the trace: the trace still
    routes module calls (the class attribute is patched then, not torch's code), and the
    profiler's function is back, and called, afterwards."""
    calls: list[str] = []

    def profiler(module: nn.Module, *args: Any, **kwargs: Any) -> Any:
        calls.append(type(module).__name__)
        return ORIGINAL_IMPL(module, *args, **kwargs)

    net = seed_cnn()
    nn.Module._call_impl = profiler  # type: ignore[method-assign, assignment]
    try:
        graph = trace_torch(net, (1, 3, 32, 32))
        assert calls == []  # traced: no real module call
        assert nn.Module._call_impl is profiler and ORIGINAL_IMPL.__code__ is ORIGINAL_CODE
        net(torch.randn(1, 3, 32, 32))
        assert calls and calls[0] == type(net).__name__
    finally:
        nn.Module._call_impl = ORIGINAL_IMPL  # type: ignore[method-assign]
    assert graph.params == sum(p.numel() for p in net.parameters())


def test_a_torch_function_mode_of_the_users_sees_the_traced_calls() -> None:
    """Torch functions written in Python go straight to the tracer during a trace
    (``function_calls``), unless a torch function mode other than the trace's own is on:
    the user's mode sees them as it would without the shortcut, and the graph is the same."""
    seen: list[str] = []

    class Recorder(torch.overrides.TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
            seen.append(getattr(func, "__name__", ""))
            return func(*args, **(kwargs or {}))

    model = Normed()
    plain = trace_torch(model, (1, 3, 8, 8))
    with Recorder():
        recorded = trace_torch(model, (1, 3, 8, 8))
    assert {"batch_norm", "layer_norm"} <= set(seen)
    assert [(n.op, n.output_shape, n.macs, n.params) for n in plain.nodes] == [
        (n.op, n.output_shape, n.macs, n.params) for n in recorded.nodes
    ]
    assert torch.overrides.handle_torch_function.__code__ is ORIGINAL_HANDLE_CODE


def test_torch_call_impl_code_is_back_after_a_failed_trace() -> None:
    """Module calls switch torch's ``_call_impl`` code for the trace (``module_calls``): a
    forward that raises leaves it as it was, and modules run as usual."""
    with pytest.raises(StridescopeError):
        trace_torch(Raises(), (1, 3, 8, 8))
    assert ORIGINAL_IMPL.__code__ is ORIGINAL_CODE and nn.Module._call_impl is ORIGINAL_IMPL
    assert seed_cnn()(torch.randn(1, 3, 32, 32)).shape == (1, 10)
