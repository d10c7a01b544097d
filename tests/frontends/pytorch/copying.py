"""Graphs traced with repeated blocks copied and block by block, for the tests of
:mod:`stridescope.frontends.pytorch.block_copies` (their fixture ``copies`` is in
``conftest.py``)."""

from __future__ import annotations

import pytest
from torch import nn

from stridescope.frontends.pytorch import block_copies
from stridescope.frontends.pytorch.trace import trace_torch
from stridescope.ir import Graph


def traced(model: nn.Module, shape: tuple[int, ...]) -> Graph:
    """The graph traced block by block (copying off)."""
    with pytest.MonkeyPatch.context() as m:
        m.setattr(block_copies, "ON", False)
        return trace_torch(model, shape)


def same_graph(model: nn.Module, shape: tuple[int, ...]) -> Graph:
    """The copied graph, after checking it equals the one traced block by block."""
    copied = trace_torch(model, shape)
    plain = traced(model, shape)
    assert copied.nodes == plain.nodes
    assert copied.notes == plain.notes
    return copied
