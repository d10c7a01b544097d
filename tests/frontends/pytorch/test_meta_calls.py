"""Meta runs remembered per argument layout give what a fresh meta run gives."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from stridescope.frontends.pytorch import meta_calls
from stridescope.frontends.pytorch.meta_calls import meta_call
from stridescope.frontends.pytorch.proxy import ShapeProxy


def _layout(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return (tuple(value.shape), value.stride(), value.dtype, value.device.type)
    return [_layout(v) for v in value]


def test_int_and_float_scalars_are_not_one_key() -> None:
    x = torch.empty(3, dtype=torch.int64, device="meta")
    assert meta_call(torch.add, (x, 1), {}).dtype == torch.int64
    assert meta_call(torch.add, (x, 1.0), {}).dtype == torch.float32
    assert meta_call(torch.add, (x, True), {}).dtype == torch.int64


def test_a_proxy_runs_as_a_contiguous_meta_tensor() -> None:
    proxy = ShapeProxy(0, (2, 3, 4), torch.float16)
    out = meta_call(torch.Tensor.transpose, (proxy, 0, 2), {})
    assert (tuple(out.shape), out.stride(), out.dtype) == ((4, 3, 2), (1, 4, 12), torch.float16)


def test_unhashable_arguments_run_without_memo() -> None:
    x = torch.empty(4, 6, device="meta")
    before = len(meta_calls._MEMO)
    out = meta_call(torch.Tensor.__getitem__, (x, np.array([0, 2, 3])), {})
    assert tuple(out.shape) == (3, 6)
    assert len(meta_calls._MEMO) == before


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 5), min_size=1, max_size=4),
    shifts=st.integers(-6, 6),
    start=st.integers(0, 4),
)
def test_remembered_calls_match_fresh_meta_runs(sizes: list[int], shifts: int, start: int) -> None:
    x = torch.empty(sizes, device="meta")
    calls = [
        (torch.roll, (x, shifts, 0), {}),
        (torch.unbind, (x,), {"dim": len(sizes) - 1}),
        (torch.Tensor.__getitem__, (x, (slice(start, None), Ellipsis)), {}),
        (torch.Tensor.unsqueeze, (x, 0), {}),
    ]
    for func, args, kwargs in calls:
        fresh = func(*args, **kwargs)
        assert _layout(meta_call(func, args, kwargs)) == _layout(fresh)
        assert _layout(meta_call(func, args, kwargs)) == _layout(fresh)  # from the memo


class _PositionScores(torch.nn.Module):
    """A layer run on a table the forward makes (ConViT's positional scores), inside a module
    with a parameter of its own: the trace asks where parameters' values are, to count the
    table's, and the forward computes on its parameter once."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = torch.nn.Parameter(torch.zeros(4))
        self.proj = torch.nn.Linear(3, 4)
        self.extra = torch.nn.ModuleList(torch.nn.Linear(4, 4) for _ in range(8))  # (unused)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scores = self.proj(torch.ones(1, 5, 3))  # (a real tensor: no traced input in it)
        return x * torch.sigmoid(self.gate) + scores.mean()


def test_the_tracer_asks_no_parameter_question_through_the_parameter_mode(
    monkeypatch: Any,
) -> None:
    from stridescope.frontends.pytorch import param_mode, trace_torch

    runs: list[str] = []
    real = param_mode.meta_call
    monkeypatch.setattr(
        param_mode, "meta_call", lambda f, a, k: runs.append(f.__name__) or real(f, a, k)
    )
    g = trace_torch(_PositionScores(), (1, 5, 4))
    assert runs == ["sigmoid"]  # (not data_ptr, is_meta... of each of the 19 parameters)
    assert g.params == 4 + 3 * 4 + 4  # the gate and the layer (the others unused)
