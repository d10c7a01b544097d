"""What ``compare`` checks before it measures anything (one-line errors), and how it builds
and describes an operator: a zoo name or a user's factory, on images ``(C, H, W)`` or signals
``(C, L)``.

>>> check_request((3, 64, 64), 16, ["conv1x1_s2"])
device(type='cpu')
>>> check_request((1, 16000), 16, ["conv1x1_s2"])
device(type='cpu')
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from stridescope.analysis.images import IMAGE_NAMES
from stridescope.analysis.latency import check_device
from stridescope.errors import StridescopeError
from stridescope.ir import Graph, GraphBuilder
from stridescope.ops import OPS, create_op, op_names

__all__ = [
    "LIMITS",
    "CompareOptions",
    "Factory",
    "Trace",
    "axes_text",
    "build_op",
    "check_halves",
    "check_request",
    "op_graph",
]

#: A user's operator: ``factory(in_channels, out_channels)`` returns the ``nn.Module``.
Factory = Callable[[int, int], nn.Module]
#: How to describe a module without ``stridescope_ir`` to the IR (the PyTorch frontend).
Trace = Callable[[nn.Module, tuple[int, ...]], Graph]

#: Largest sizes ``compare`` accepts: the Jacobian of the recoverable-information metric has
#: ``4 * C_in * C_out`` entries at the smallest input, and photos of ``H x W`` (signals of
#: ``L`` samples) are kept in memory.
LIMITS = {"channels": 4096, "out_channels": 4096, "size": 2048, "length": 262144}
_MAX_ITEMS = len(IMAGE_NAMES)


@dataclass(frozen=True)
class CompareOptions:
    """How much to measure. The defaults take a few seconds for all operators at 64 px."""

    images: int = 4  #: photos (images) or crops per source (signals) for aliasing and shifts, 1-8
    batch: int = 1  #: batch size of the latency measurement
    latency_min_time: float = 0.05  #: seconds per timed statement (forward; forward+backward)
    jacobian_size: int = 8  #: spatial side of the Jacobian input (shrunk for many channels)
    response_points: int = 33  #: frequencies from 0 to 0.5 cycles per position
    grid_size: int = 8  #: side of the read grid kept for plots (4x as many samples in 1-D)
    #: signal sources measured in 1-D, the first available one the main (shift errors,
    #: latency); unavailable ones (speech without espeak-ng) are skipped with a note
    sources: tuple[str, ...] = ("speech", "chirp", "noise")


def axes_text(rank: int) -> str:
    """``L`` (a signal) or ``H and W`` (an image): the axes ``compare`` halves."""
    return "L" if rank == 1 else "H and W"


def op_graph(
    op: nn.Module, input_shape: tuple[int, ...], name: str = "op", trace: Trace | None = None
) -> Graph:
    """The IR of one operator on a ``(N, C, H, W)`` (or ``(N, C, L)``) input: its own
    ``stridescope_ir``, or ``trace(op, input_shape)`` for a module without one (a user's
    operator)."""
    if not callable(getattr(op, "stridescope_ir", None)):
        if trace is None:
            raise StridescopeError(
                f"operator {name!r} ({type(op).__name__}) has no stridescope_ir; pass trace="
            )
        return trace(op, input_shape)
    builder = GraphBuilder(input_shape, "nchw", source=name)
    op.stridescope_ir(builder, builder.input, name)  # type: ignore[operator]
    return builder.build()


def build_op(name: str, factory: Factory | None, c_in: int, c_out: int, rank: int = 2) -> nn.Module:
    """A registered operator (on ``rank`` spatial axes), or a user's factory called as
    ``factory(c_in, c_out)``."""
    if factory is None:
        return create_op(name, c_in, c_out, rank=rank)
    try:
        op = factory(c_in, c_out)
    except Exception as error:  # the user's code: any error, reported in one line
        text = str(error).strip().splitlines()
        raise StridescopeError(
            f"operator {name!r}: factory({c_in}, {c_out}) raised {type(error).__name__}"
            + (f": {text[0]}" if text else "")
        ) from None
    if not isinstance(op, nn.Module):
        raise StridescopeError(
            f"operator {name!r}: factory({c_in}, {c_out}) returned {type(op).__name__}; "
            "expected a torch.nn.Module"
        )
    return op


def check_halves(name: str, graph: Graph, shape: tuple[int, ...], c_out: int) -> None:
    """A user's operator must downsample by 2 like the zoo: (C_out, H/2, W/2) or
    (C_out, L/2), either rounding, or the shift and aliasing metrics would not mean what they
    say."""
    out = graph.output.output_shape
    spatial = shape[1:]
    halves = [{n // 2, -(-n // 2)} for n in spatial]
    ok = (
        len(out) == 2 + len(spatial)
        and out[1] == c_out
        and all(o in h for o, h in zip(out[2:], halves, strict=True))
    )
    if not ok:
        wanted = f"{c_out} x L/2" if len(spatial) == 1 else f"{c_out} x H/2 x W/2"
        raise StridescopeError(
            f"operator {name!r} maps {'x'.join(map(str, shape))} to "
            f"{'x'.join(map(str, out[1:]))}; compare measures downsampling to {wanted} "
            "(either rounding)"
        )


def _check_names(names: Sequence[str], custom: Mapping[str, Factory]) -> None:
    """Every name is a zoo operator or one of ``custom``, listed once."""
    if not names:
        raise StridescopeError(f"no operators to compare; known: {', '.join(op_names())}")
    for index, name in enumerate(names):
        if name not in custom:
            OPS.get(name)  # unknown names fail before any measurement
        if name in names[:index]:
            raise StridescopeError(f"operator {name!r} is listed twice; list each once")


def _check_options(opts: CompareOptions, rank: int) -> None:
    """The measurement options (items, latency time, batch, sources) are in range."""
    from stridescope.analysis.signal_data import SOURCES

    what = "signal count" if rank == 1 else "image count"
    if not 1 <= opts.images <= _MAX_ITEMS:
        raise StridescopeError(f"{what} must be between 1 and {_MAX_ITEMS}; received {opts.images}")
    if not (math.isfinite(opts.latency_min_time) and 0 < opts.latency_min_time <= 60):
        raise StridescopeError(
            f"latency time must be a number of seconds in (0, 60]; received {opts.latency_min_time}"
        )
    if opts.batch < 1:
        raise StridescopeError(f"latency batch must be positive; received {opts.batch}")
    unknown = [s for s in opts.sources if s not in SOURCES]
    if unknown or not opts.sources or len(set(opts.sources)) != len(opts.sources):
        raise StridescopeError(
            f"signal sources must be distinct names among {', '.join(SOURCES)}; received "
            f"{', '.join(opts.sources) or 'none'}"
        )


def _check_shape(input_shape: tuple[int, ...], out_channels: int) -> None:
    if len(input_shape) not in (2, 3) or any(
        isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in input_shape
    ):
        raise StridescopeError(
            "input shape must be positive sizes C,L (a signal) or C,H,W (an image); "
            f"received {input_shape!r}"
        )
    if isinstance(out_channels, bool) or not isinstance(out_channels, int) or out_channels < 1:
        raise StridescopeError(
            f"out_channels must be a positive integer; received {out_channels!r}"
        )
    axes = axes_text(len(input_shape) - 1)
    if min(input_shape[1:]) < 4:
        raise StridescopeError(f"compare needs {axes} >= 4; received {input_shape!r}")
    size = ("L", LIMITS["length"]) if len(input_shape) == 2 else ("H and W", LIMITS["size"])
    for what, value, limit in (
        ("input channels", input_shape[0], LIMITS["channels"]),
        ("out_channels", out_channels, LIMITS["out_channels"]),
        (size[0], max(input_shape[1:]), size[1]),
    ):
        if value > limit:
            raise StridescopeError(f"compare measures {what} up to {limit}; received {value}")


def check_request(
    input_shape: tuple[int, ...],
    out_channels: int,
    names: Sequence[str],
    device: str = "cpu",
    options: CompareOptions | None = None,
    custom: Mapping[str, Factory] | None = None,
    trace: Trace | None = None,
) -> torch.device:
    """Check a request before measuring anything; one-line errors. Returns the device.

    >>> check_request((3, 2, 64), 16, ["conv1x1_s2"])
    Traceback (most recent call last):
    ...
    stridescope.errors.StridescopeError: compare needs H and W >= 4; received (3, 2, 64)
    """
    _check_shape(input_shape, out_channels)
    _check_names(names, custom or {})
    rank = len(input_shape) - 1
    _check_options(options or CompareOptions(), rank)
    for name, factory in (custom or {}).items():  # a user's operator: built and traced once
        if name in names:
            op = build_op(name, factory, input_shape[0], out_channels, rank)
            graph = op_graph(op, (1, *input_shape), name, trace)
            check_halves(name, graph, input_shape, out_channels)
    return check_device(device)
