"""The text forms of a coverage map: unread runs of a signal, their grouping, the strip."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from stridescope.analysis.coverage_format import (
    run_groups,
    strip_cells,
    unread_runs,
    unread_text,
)

counts_1d = st.lists(st.integers(0, 3), min_size=1, max_size=200).map(
    lambda v: np.array(v, dtype=np.int64)
)


def _naive_runs(counts: np.ndarray) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for i, v in enumerate(counts.tolist()):
        if v == 0:
            if runs and runs[-1][0] + runs[-1][1] == i:
                runs[-1] = (runs[-1][0], runs[-1][1] + 1)
            else:
                runs.append((i, 1))
    return runs


@settings(max_examples=300)
@given(counts_1d)
def test_runs_and_groups_give_back_every_unread_sample(counts: np.ndarray) -> None:
    runs = unread_runs(counts)
    assert runs == _naive_runs(counts)
    expanded = [
        (g.start + k * g.period, g.length) for g in run_groups(runs) for k in range(g.count)
    ]
    assert expanded == runs


@settings(max_examples=300)
@given(counts_1d, st.integers(1, 100))
def test_the_strip_marks_cells_by_what_they_read(counts: np.ndarray, cells: int) -> None:
    strip = strip_cells(counts, cells)
    assert len(strip) == min(cells, counts.size)
    assert ("█" in strip or "▒" in strip) == bool((counts > 0).any())
    assert ("·" in strip or "▒" in strip) == bool((counts == 0).any())


def test_a_strided_signal_is_one_group_however_long() -> None:
    counts = np.zeros(16000, dtype=np.int64)
    counts[::2] = 1
    assert unread_text(counts) == ["8000 runs of 1 sample, every 2 samples from 1 to 15999"]
    counts[-300:] = 0
    assert unread_text(counts, 16000)[-1] == "1 run of 301 samples (18.81 ms): 15699-15999"
