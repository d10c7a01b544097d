"""What a fix says about the output at the start, checked numerically.

- identical: the two models agree to float rounding on random inputs;
- equal in expectation: on stationary inputs (mean 1 plus i.i.d. noise, the same law at every
  position) the mean of the paired difference of every output element is 0 within 5.5
  standard errors, while single outputs differ;
- changed: some output element's mean moves by more than 8 standard errors.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from stridescope.surgery import CHANGED, EXPECTATION, IDENTICAL

Run = Callable[[torch.Tensor], torch.Tensor]


def largest_z(before: Run, after: Run, shape: tuple[int, ...], n: int, seed: int = 0) -> float:
    """The largest |mean / standard error| of ``after(x) - before(x)`` over output elements."""
    g = torch.Generator().manual_seed(seed)
    x = 1.0 + torch.randn((n, *shape[1:]), generator=g)
    with torch.no_grad():
        d = (after(x) - before(x)).flatten(1).double()  # (n, elements)
    assert float(d.abs().max()) > 1e-3, "single outputs should differ"
    mean, error = d.mean(0), d.std(0) / math.sqrt(n)
    same = error < 1e-6  # elements the change leaves equal (e.g. a partial window of one)
    assert float(mean[same].abs().sum()) < 1e-5 * max(int(same.sum()), 1)
    return float((mean[~same] / error[~same]).abs().max())


def assert_claim(before: Run, after: Run, claim: str, shape: tuple[int, ...]) -> None:
    if claim == IDENTICAL:
        x = torch.randn((8, *shape[1:]), generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            a, b = before(x), after(x)
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-5), float((a - b).abs().max())
        return
    z = largest_z(before, after, shape, 4000)
    if claim == EXPECTATION:
        assert z < 5.5, z
        return
    assert claim == CHANGED
    if z <= 8:  # a change can be small per element (APS's bias): more samples to see it
        z = largest_z(before, after, shape, 30000, seed=1)
    assert z > 8, z
