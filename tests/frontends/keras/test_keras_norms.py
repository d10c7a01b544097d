"""``keras.ops.norm``: vector norms and the matrix norms that sum the entries are reductions,
one MAC per element; the nuclear and spectral matrix norms (singular values) are uncounted,
as in the PyTorch tracer (until 2026-12-06 they were counted as a sum)."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

import stridescope

CASES: list[tuple[dict[str, Any], bool]] = [
    ({"axis": -1}, True),
    ({"ord": 2, "axis": -1}, True),
    ({"ord": "fro", "axis": (-2, -1)}, True),
    ({"ord": 1, "axis": (-2, -1)}, True),
    ({"ord": "nuc", "axis": (-2, -1)}, False),
    ({"ord": 2, "axis": (-2, -1)}, False),
]


@pytest.mark.parametrize(("kwargs", "counted"), CASES)
def test_norms_are_counted_unless_they_need_singular_values(
    keras: ModuleType, kwargs: dict[str, Any], counted: bool
) -> None:
    x = keras.Input((4, 8))
    summary = stridescope.summary(keras.Model(x, keras.ops.norm(x, **kwargs)))
    if counted:
        assert summary.totals.uncounted == () and summary.totals.macs == 4 * 8  # (batch 1)
    else:
        assert len(summary.totals.uncounted) == 1
