"""Computations on parameters alone (a standardised weight, ``gain * scale``, a bias table
indexed by a buffer) run on meta tensors during a trace, not as real kernels on real weights;
their parameters are counted where the result meets the traced input. A forward that reads a
parameter's values is traced again the exact way, with the same result."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from stridescope.errors import StridescopeError
from stridescope.frontends.pytorch import trace_torch
from stridescope.ir import Graph

SHAPE = (2, 3, 8, 8)


class _StandardisedConv(nn.Conv2d):
    """Weight standardisation written as normalisation-free networks write it."""

    def __init__(self, out_channels: int = 6) -> None:
        super().__init__(3, out_channels, 3, padding=1)
        self.gain = nn.Parameter(torch.ones(out_channels, 1, 1, 1))
        self.devices: list[str] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = self.weight.reshape(1, self.out_channels, -1)
        w = F.batch_norm(flat, None, None, weight=(self.gain * 0.5).view(-1), training=True)
        w = w.reshape_as(self.weight)
        self.devices.append(w.device.type)
        return F.conv2d(x, w, self.bias, padding=1)


class _BiasTable(nn.Module):
    """A learned table indexed by a buffer, added to the input (relative-position bias)."""

    def __init__(self) -> None:
        super().__init__()
        self.table = nn.Parameter(torch.zeros(15, 3))
        self.register_buffer("index", torch.randint(0, 15, (64,)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = self.table[self.index].T.reshape(1, 3, 8, 8)
        return x + bias


class _ReadsValues(nn.Module):
    """A forward that branches on a parameter's value."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1))
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.scale.abs().item() > 0:
            x = x * self.scale
        return self.conv(x)


def _check(module: nn.Module) -> Graph:
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        expected = module(torch.rand(SHAPE))
    graph = trace_torch(module, SHAPE)
    assert graph.output.output_shape == tuple(expected.shape)
    assert not graph.uncounted
    assert graph.params == sum(p.numel() for p in module.parameters())
    assert 2 * graph.macs >= counter.get_total_flops()
    return graph


def test_a_weight_computed_from_parameters_runs_on_meta_and_counts_them() -> None:
    conv = _StandardisedConv(2560)
    for _ in range(2):  # every trace, not only the first of the class
        conv.devices.clear()
        graph = _check(conv)
        assert conv.devices[-1] == "meta"  # the trace's weight: no real kernel ran on it
        assert graph.macs == 2 * 2560 * 8 * 8 * 3 * 9


def test_a_weight_computed_from_parameters_counts_them_on_every_trace() -> None:
    conv = _StandardisedConv()
    for _ in range(2):
        graph = _check(conv)
        assert graph.params == 6 * 3 * 9 + 6 + 6
        assert graph.macs == 2 * 6 * 8 * 8 * 3 * 9


def test_a_parameter_indexed_by_a_buffer_meets_the_input() -> None:
    graph = _check(_BiasTable())
    assert graph.params == 45


def test_a_forward_reading_parameter_values_is_traced_the_exact_way() -> None:
    module = _ReadsValues()
    graph = _check(module)
    assert graph.params == 1 + 3 * 4 + 4


class _CachesBias(nn.Module):
    """Caches a tensor computed from a parameter on itself during forward, per device."""

    def __init__(self) -> None:
        super().__init__()
        self.table = nn.Parameter(torch.rand(3, 4))
        self.cache: dict[str, torch.Tensor] = {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        key = str(x.device)
        if key not in self.cache:
            self.cache[key] = self.table.T.reshape(1, 3, 2, 2)
        return x + self.cache[key]


def test_a_forward_caching_a_parameter_computation_is_left_as_it_was() -> None:
    """The trace (one run: all else it did was on shapes) takes the meta tensor out of the
    cache again; the graph is the exact run's, and the model still computes as before."""
    module = _CachesBias()
    graph = trace_torch(module, (1, 3, 2, 2))
    assert graph.params == 12 and module.cache == {}
    rows = [(n.op, n.output_shape, n.params) for n in graph.nodes]
    assert [
        (n.op, n.output_shape, n.params) for n in trace_torch(module, (1, 3, 2, 2)).nodes
    ] == rows
    x = torch.rand(1, 3, 2, 2)
    torch.testing.assert_close(module(x), x + module.table.T.reshape(1, 3, 2, 2))


class _MemoOnAttribute(nn.Module):
    """Stores a parameter computation as a plain attribute the first time it runs."""

    def __init__(self) -> None:
        super().__init__()
        self.table = nn.Parameter(torch.rand(3, 4))
        self.memo: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.memo is None:
            self.memo = self.table.T.reshape(1, 3, 2, 2) * 2
        return x + self.memo


def test_a_forward_storing_a_parameter_computation_on_an_attribute_is_left_as_it_was() -> None:
    module = _MemoOnAttribute()
    graph = trace_torch(module, (1, 3, 2, 2))
    assert graph.params == 12 and module.memo is None
    x = torch.rand(1, 3, 2, 2)
    torch.testing.assert_close(module(x), x + module.table.T.reshape(1, 3, 2, 2) * 2)
    assert module.memo is not None and module.memo.device.type == "cpu"  # its own forward
    assert trace_torch(module, (1, 3, 2, 2)).params == 12  # a real tensor, counted by grad_fn


class _Scaled(nn.Module):
    """The same class computes on its parameter alone or not, per instance."""

    def __init__(self, computes: bool) -> None:
        super().__init__()
        self.computes = computes
        self.scale = nn.Parameter(torch.ones(3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.computes:
            return x * (self.scale * 2).sigmoid()
        return x * self.scale


class _Takes(nn.Module):
    """A module without parameters of its own that computes on a parameter it is given."""

    def forward(self, x: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        return x + table.T.reshape(1, 3, 8, 8)


class _Gives(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.table = nn.Parameter(torch.zeros(64, 3))
        self.takes = _Takes()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.takes(x, self.table)


class _GivesComputed(_Gives):
    """Computes on its parameter, then hands the result by keyword to a module without
    parameters (as a rotary embedding is made once and read by every block)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        table = torch.cat([self.table.sin(), self.table.cos()], 0)
        return self.takes(x, table=table[::2])


def test_a_class_whose_first_forward_needs_no_mode_still_counts_later_computations() -> None:
    module = nn.Sequential(_Scaled(False), _Scaled(True), _Scaled(False), _Scaled(True))
    graph = _check(module)
    assert graph.params == 4 * 3


def test_a_parameter_handed_to_a_module_without_parameters_is_counted() -> None:
    graph = _check(_Gives())
    assert graph.params == 64 * 3


def test_a_computation_on_parameters_handed_to_a_module_without_any_is_counted() -> None:
    graph = _check(_GivesComputed())
    assert graph.params == 64 * 3 and not graph.notes


class _NormalisedHead(nn.Module):
    """A linear layer whose weight is computed from one parameter, beside one the forward
    never uses."""

    def __init__(self) -> None:
        super().__init__()
        self.table = nn.Parameter(torch.randn(5, 3))
        self.spare = nn.Parameter(torch.zeros(7))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x.mean((2, 3)), F.normalize(self.table, dim=-1))


@pytest.mark.parametrize("exact", [False, True], ids=["parameter mode", "autograd"])
def test_a_computed_weight_counts_only_the_parameters_it_came_from(exact: bool) -> None:
    module = _NormalisedHead()
    if exact:  # a forward traced the exact way (it reads a parameter's value)
        module.forward = lambda x: F.linear(  # type: ignore[method-assign]
            x.mean((2, 3)), F.normalize(module.table, dim=-1) * float(module.table.sum() != 0)
        )
    graph = trace_torch(module, SHAPE)
    assert graph.params == 5 * 3
    assert graph.notes and "spare" in graph.notes[-1]


class _Integral(nn.Module):
    """Applies a weight it is handed (it has no parameters of its own)."""

    def forward(self, x: torch.Tensor, project: torch.Tensor) -> torch.Tensor:
        return F.linear(x, project)


class _FrozenProjection(nn.Module):
    """A projection built from two frozen parameters (a detection decoder's bin weighting),
    moved to the input's device before a module without parameters uses it as a weight."""

    def __init__(self, move: str) -> None:
        super().__init__()
        self.move = move
        self.integral = _Integral()
        self.scale = nn.Parameter(torch.tensor([4.0]), requires_grad=False)
        self.up = nn.Parameter(torch.tensor([0.5]), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bound = abs(self.up[0]) * abs(self.scale)
        steps = [-bound * 2, torch.zeros_like(self.up[0][None]), bound * 2]
        project = torch.cat(steps, 0)
        project = project.to(x.device) if self.move == "to" else project.cpu()
        return self.integral(x.mean((2, 3)), project[None].expand(4, 3))


@pytest.mark.parametrize("move", ["to", "cpu"])
def test_frozen_parameters_moved_to_the_input_device_are_counted(move: str) -> None:
    graph = _check(_FrozenProjection(move))
    assert graph.params == 2 and not graph.notes


class _ConstantEmbedding(nn.Module):
    """A learned embedding of fixed ids (made in the forward), broadcast onto the input after
    some movement: it meets the traced tensor only after leaving the embedding's call."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(10, 3)  # (one vector of 3 per channel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ids = torch.zeros(1, dtype=torch.long)
        return x + self.embed(ids)[:, :, None, None]


def test_a_parameter_computation_returned_by_a_call_is_followed_until_it_meets_the_input() -> None:
    graph = _check(_ConstantEmbedding())
    assert graph.params == 10 * 3 and not graph.notes


class _OwnMode(torch.overrides.TorchFunctionMode):
    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        return func(*args, **(kwargs or {}))


class _PushesMode(nn.Module):
    """A forward that runs its children under a torch function mode of its own."""

    def __init__(self) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.ones(3, 1, 1))
        self.inner = nn.Sequential(_Scaled(True), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with _OwnMode():
            return self.inner(x * self.gain)


def test_a_forward_pushing_its_own_torch_function_mode_traces() -> None:
    graph = _check(_PushesMode())
    assert graph.params == 3 + 3


class _CountsCalls(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0
        self.conv = nn.Conv2d(4, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.conv(x)


def test_an_input_a_layer_cannot_take_is_reported_after_one_forward() -> None:
    module = _CountsCalls()
    with pytest.raises(StridescopeError, match=r"layer 'conv' \(Conv2d\) expects"):
        trace_torch(module, (1, 3, 8, 8))
    assert module.calls == 1


class _CachesOnParent(nn.Module):
    """A child's forward stores a parameter computation on its parent (an enclosing module
    whose forward runs: its state is saved too), and on its sibling (whose is not)."""

    def __init__(self) -> None:
        super().__init__()
        self.child = _Storing(self)
        self.sibling = nn.Identity()
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1  # a write of its own: the state saved is from after it
        return self.sibling(self.child(x))


class _Storing(nn.Module):
    def __init__(self, parent: nn.Module) -> None:
        super().__init__()
        self.table = nn.Parameter(torch.rand(3, 4))
        self.__dict__["parent"] = parent  # not a child module: no cycle in the module tree

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = self.table.T.reshape(1, 3, 2, 2)
        self.parent.__dict__["bias"] = bias
        self.parent.sibling.__dict__["bias"] = bias
        return x + bias


def test_parameter_computations_stored_elsewhere_are_taken_out_of_the_model() -> None:
    module = _CachesOnParent()
    graph = trace_torch(module, (1, 3, 2, 2))
    assert graph.params == 12
    assert "bias" not in module.__dict__  # the parent, as it was
    assert module.calls == 0  # its own write too: the trace leaves the model as it found it
    assert "bias" not in module.sibling.__dict__  # a child of a module that writes: kept
    assert not any(
        isinstance(v, torch.Tensor) and v.is_meta
        for m in module.modules()
        for v in vars(m).values()
    )


class _Rotary(nn.Module):
    """A table of positions times frequencies (a rotary embedding's), made by a method."""

    def __init__(self, frozen: bool) -> None:
        super().__init__()
        self.freqs = nn.Parameter(torch.ones(4), requires_grad=not frozen)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return t[..., None] * self.freqs

    def table(self, n: int) -> torch.Tensor:
        return self.forward(torch.arange(n, dtype=torch.float32))  # not through __call__


class _RotaryUser(nn.Module):
    def __init__(self, frozen: bool, how: str) -> None:
        super().__init__()
        self.rot, self.how = _Rotary(frozen), how

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (1, 16, 4)
        positions = torch.arange(x.shape[-2], dtype=torch.float32)
        table = self.rot.table(x.shape[-2]) if self.how == "method" else self.rot.forward(positions)
        return x * table.cos()


@pytest.mark.parametrize("how", ["method", "forward"])
@pytest.mark.parametrize("frozen", [True, False])
def test_a_frozen_parameter_used_by_a_forward_run_directly_is_counted(
    frozen: bool, how: str
) -> None:
    """A module's forward run by calling ``.forward()`` (or a method that does), not
    ``__call__``, on positions the forward makes: a frozen parameter there leaves no
    ``grad_fn`` to find it by, so a model with frozen parameters runs every forward under
    the parameter mode; the weights count where the table meets the input."""
    model = _RotaryUser(frozen, how)
    graph = trace_torch(model, (1, 16, 4))
    assert graph.params == 4 and graph.notes == ()
    assert graph.output.output_shape == tuple(model(torch.randn(1, 16, 4)).shape)
