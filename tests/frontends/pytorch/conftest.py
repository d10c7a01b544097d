"""Fixtures of the PyTorch frontend's tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from torch import nn

from stridescope.frontends.pytorch import block_copies


@pytest.fixture
def copies(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Copy every block that can be copied (whatever the timing says), and list the paths
    of the blocks copied."""
    made: list[str] = []
    original = block_copies.BlockCopying._copy

    def counting(self: Any, kinds: Any, module: nn.Module, path: str, proxies: Any) -> Any:
        out = original(self, kinds, module, path, proxies)
        if out is not block_copies._NO:
            made.append(path)
        return out

    monkeypatch.setattr(block_copies, "_WORTH", float("inf"))
    monkeypatch.setattr(block_copies, "_COSTS", {})
    monkeypatch.setattr(block_copies, "_TRACES", {})
    monkeypatch.setattr(block_copies.BlockCopying, "_copy", counting)
    yield made
