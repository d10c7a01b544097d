"""The operator registry: every downsampling operator of the zoo, by name.

>>> from stridescope.ops import create_op, op_names
>>> "conv1x1_s2" in op_names()
True
>>> create_op("conv1x1_s2", 3, 16, filter_size=3)
Traceback (most recent call last):
...
stridescope.errors.StridescopeError: operator 'conv1x1_s2' takes no options; received filter_size
"""

from __future__ import annotations

import inspect

from torch import nn

from stridescope.errors import StridescopeError
from stridescope.ops._checks import check_rank
from stridescope.registry import Registry

__all__ = ["OPS", "create_op", "op_names", "op_options"]

OPS: Registry[nn.Module] = Registry("operator")


def op_names() -> tuple[str, ...]:
    """Names of all registered operators, in registration order."""
    return OPS.names()


def op_options(name: str) -> tuple[str, ...]:
    """The options an operator declares (its factory's keyword-only parameters; every
    factory also takes ``(in_channels, out_channels, rank)``).

    >>> op_options("blurpool_conv1x1")
    ('filter_size', 'padding')
    """
    factory = OPS.get(name).factory
    params = inspect.signature(factory).parameters.values()
    return tuple(p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY)


def _positive(what: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise StridescopeError(f"{what} must be a positive integer; received {value!r}")
    return value


def create_op(
    name: str, in_channels: int, out_channels: int, *, rank: int = 2, **options: object
) -> nn.Module:
    """Build operator ``name`` mapping ``(N, in_channels, H, W)`` to
    ``(N, out_channels, ceil(H/2), ceil(W/2))``; with ``rank=1`` a signal ``(N, C, L)`` to
    ``(N, out_channels, ceil(L/2))``, with ``rank=3`` a volume.

    ``options`` must be among those the operator declares (see :func:`op_options`).

    >>> import torch
    >>> op = create_op("s2d_conv1x1", 3, 16)
    >>> tuple(op(torch.zeros(1, 3, 7, 8)).shape)
    (1, 16, 4, 4)
    >>> tuple(create_op("s2d_conv1x1", 3, 16, rank=1)(torch.zeros(1, 3, 7)).shape)
    (1, 16, 4)
    """
    entry = OPS.get(name)
    allowed = op_options(name)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        if allowed:
            raise StridescopeError(
                f"operator {name!r} has no option {', '.join(unknown)}; "
                f"allowed: {', '.join(allowed)}"
            )
        raise StridescopeError(f"operator {name!r} takes no options; received {', '.join(unknown)}")
    cin = _positive("in_channels", in_channels)
    cout = _positive("out_channels", out_channels)
    if check_rank(rank) == 2:  # images: the factory's own default (two-argument factories too)
        return entry.factory(cin, cout, **options)
    return entry.factory(cin, cout, rank, **options)
