"""Compare downsampling operators side by side: cost, coverage, signal metrics and latency.

A pipeline: build each operator (seeded), describe it to the IR (shape, params, MACs,
activation bytes, read fraction), measure the signal metrics on bundled photographs
(aliasing, shift errors, recoverable information, frequency response) and time it.

>>> c = compare((3, 16, 16), 8, ["conv1x1_s2", "s2d_conv1x1"],
...             options=CompareOptions(images=1, latency_min_time=0.001))
>>> [(r.name, r.output_shape, r.params, r.recoverable) for r in c.results]
[('conv1x1_s2', (8, 8, 8), 32, 0.25), ('s2d_conv1x1', (8, 8, 8), 104, 0.6666666666666666)]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from stridescope.analysis.coverage import coverage_map
from stridescope.analysis.images import IMAGE_NAMES, load_images
from stridescope.analysis.latency import Latency, check_device, measure_latency
from stridescope.analysis.signal import aliasing_share, frequency_response, response_frequencies
from stridescope.analysis.signal_rank import recoverable_fraction
from stridescope.analysis.signal_shift import ShiftErrors, shift_errors
from stridescope.errors import StridescopeError
from stridescope.ir import Graph, GraphBuilder
from stridescope.ops import OPS, create_op, op_names

__all__ = [
    "LIMITS",
    "RECORD_KEYS",
    "CompareOptions",
    "Comparison",
    "Factory",
    "OpResult",
    "Trace",
    "build_op",
    "check_request",
    "compare",
    "op_graph",
]

Progress = Callable[[str, int, int], None]
#: A user's operator: ``factory(in_channels, out_channels)`` returns the ``nn.Module``.
Factory = Callable[[int, int], nn.Module]
#: How to describe a module without ``stridescope_ir`` to the IR (the PyTorch frontend).
Trace = Callable[[nn.Module, tuple[int, ...]], Graph]

#: The keys every operator's JSON record has (``OpResult.to_dict`` adds documented extras).
RECORD_KEYS = (
    "name",
    "output_shape",
    "params",
    "macs",
    "read_fraction",
    "recoverable",
    "aliasing",
    "shift_error",
    "latency_ms",
)

#: Largest sizes ``compare`` accepts: the Jacobian of the recoverable-information metric has
#: ``4 * C_in * C_out`` entries at the smallest input, and photos of ``H x W`` are kept in memory.
LIMITS = {"channels": 4096, "out_channels": 4096, "size": 2048}


@dataclass(frozen=True)
class CompareOptions:
    """How much to measure. The defaults take a few seconds for all operators at 64 px."""

    images: int = 4  #: bundled photographs for aliasing and shift errors (1-8)
    batch: int = 1  #: batch size of the latency measurement
    latency_min_time: float = 0.05  #: seconds per timed statement (forward; forward+backward)
    jacobian_size: int = 8  #: spatial side of the Jacobian input (shrunk for many channels)
    response_points: int = 33  #: frequencies from 0 to 0.5 cycles/pixel
    grid_size: int = 8  #: side of the read grid kept for plots


@dataclass(frozen=True)
class OpResult:
    """Every metric of one operator."""

    name: str
    doc: str
    output_shape: tuple[int, int, int]
    params: int
    macs: int
    activation_bytes: int
    read_fraction: float
    recoverable: float
    aliasing: float
    shift_error: ShiftErrors
    latency: Latency
    response: tuple[float, ...]
    read_grid: tuple[tuple[int, ...], ...]

    def to_dict(self) -> dict[str, object]:
        """The JSON record: the documented keys plus ``doc``, ``activation_bytes``,
        ``response`` and ``read_grid``."""
        record: dict[str, object] = {
            "name": self.name,
            "output_shape": list(self.output_shape),
            "params": self.params,
            "macs": self.macs,
            "read_fraction": self.read_fraction,
            "recoverable": self.recoverable,
            "aliasing": self.aliasing,
            "shift_error": self.shift_error.to_dict(),
            "latency_ms": self.latency.to_dict(),
            "doc": self.doc,
            "activation_bytes": self.activation_bytes,
            "response": list(self.response),
            "read_grid": [list(row) for row in self.read_grid],
        }
        return record


@dataclass(frozen=True)
class Comparison:
    """The operators measured on one input shape."""

    input_shape: tuple[int, int, int]
    out_channels: int
    device: str
    seed: int
    options: CompareOptions
    frequencies: tuple[float, ...]
    results: tuple[OpResult, ...]

    def to_dict(self) -> dict[str, object]:
        return {
            "ops": [r.to_dict() for r in self.results],
            "input_shape": list(self.input_shape),
            "out_channels": self.out_channels,
            "device": self.device,
            "seed": self.seed,
            "frequencies": list(self.frequencies),
        }


def op_graph(
    op: nn.Module, input_shape: tuple[int, ...], name: str = "op", trace: Trace | None = None
) -> Graph:
    """The IR of one operator on a ``(N, C, H, W)`` input: its own ``stridescope_ir``, or
    ``trace(op, input_shape)`` for a module without one (a user's operator)."""
    if not callable(getattr(op, "stridescope_ir", None)):
        if trace is None:
            raise StridescopeError(
                f"operator {name!r} ({type(op).__name__}) has no stridescope_ir; pass trace="
            )
        return trace(op, input_shape)
    builder = GraphBuilder(input_shape, "nchw", source=name)
    op.stridescope_ir(builder, builder.input, name)  # type: ignore[operator]
    return builder.build()


def build_op(name: str, factory: Factory | None, c_in: int, c_out: int) -> nn.Module:
    """A registered operator, or a user's factory called as ``factory(c_in, c_out)``."""
    if factory is None:
        return create_op(name, c_in, c_out)
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


def _check_halves(name: str, graph: Graph, shape: tuple[int, int, int], c_out: int) -> None:
    """A user's operator must downsample by 2 like the zoo: (C_out, H/2, W/2), either
    rounding, or the shift and aliasing metrics would not mean what they say."""
    out = graph.output.output_shape
    _, h, w = shape
    halves = ({h // 2, -(-h // 2)}, {w // 2, -(-w // 2)})
    ok = len(out) == 4 and out[1] == c_out and out[2] in halves[0] and out[3] in halves[1]
    if not ok:
        raise StridescopeError(
            f"operator {name!r} maps {shape[0]}x{h}x{w} to {'x'.join(map(str, out[1:]))}; "
            f"compare measures downsampling to {c_out} x H/2 x W/2 (either rounding)"
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


def _check_options(opts: CompareOptions) -> None:
    """The measurement options (images, latency time, batch) are in range."""
    if not 1 <= opts.images <= len(IMAGE_NAMES):
        raise StridescopeError(
            f"image count must be between 1 and {len(IMAGE_NAMES)}; received {opts.images}"
        )
    if not (math.isfinite(opts.latency_min_time) and 0 < opts.latency_min_time <= 60):
        raise StridescopeError(
            f"latency time must be a number of seconds in (0, 60]; received {opts.latency_min_time}"
        )
    if opts.batch < 1:
        raise StridescopeError(f"latency batch must be positive; received {opts.batch}")


def check_request(
    input_shape: tuple[int, int, int],
    out_channels: int,
    names: Sequence[str],
    device: str = "cpu",
    options: CompareOptions | None = None,
    custom: Mapping[str, Factory] | None = None,
    trace: Trace | None = None,
) -> torch.device:
    """Check a request before measuring anything; one-line errors. Returns the device.

    >>> check_request((3, 64, 64), 16, ["conv1x1_s2"])
    device(type='cpu')
    >>> check_request((3, 2, 64), 16, ["conv1x1_s2"])
    Traceback (most recent call last):
    ...
    stridescope.errors.StridescopeError: compare needs H and W >= 4; received (3, 2, 64)
    """
    if len(input_shape) != 3 or any(
        isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in input_shape
    ):
        raise StridescopeError(
            f"input shape must be three positive sizes C,H,W; received {input_shape!r}"
        )
    if isinstance(out_channels, bool) or not isinstance(out_channels, int) or out_channels < 1:
        raise StridescopeError(
            f"out_channels must be a positive integer; received {out_channels!r}"
        )
    _check_names(names, custom or {})
    if min(input_shape[1:]) < 4:
        raise StridescopeError(f"compare needs H and W >= 4; received {input_shape!r}")
    c, h, w = input_shape
    for what, value, limit in (
        ("input channels", c, LIMITS["channels"]),
        ("out_channels", out_channels, LIMITS["out_channels"]),
        ("H and W", max(h, w), LIMITS["size"]),
    ):
        if value > limit:
            raise StridescopeError(f"compare measures {what} up to {limit}; received {value}")
    _check_options(options or CompareOptions())
    for name, factory in (custom or {}).items():  # a user's operator: built and traced once
        if name in names:
            op = build_op(name, factory, c, out_channels)
            _check_halves(name, op_graph(op, (1, c, h, w), name, trace), input_shape, out_channels)
    return check_device(device)


def _doc(name: str, factory: Factory | None) -> str:
    if factory is None:
        return OPS.get(name).doc
    lines = (factory.__doc__ or "").strip().splitlines()
    return lines[0] if lines else "a user's operator"


def _measure(
    name: str,
    shape: tuple[int, int, int],
    out_channels: int,
    seed: int,
    opts: CompareOptions,
    device: torch.device,
    photos: torch.Tensor,
    frequencies: tuple[float, ...],
    factory: Factory | None = None,
    trace: Trace | None = None,
) -> OpResult:
    torch.manual_seed(seed)
    op = build_op(name, factory, shape[0], out_channels).eval()
    graph = op_graph(op, (opts.batch, *shape), name, trace)
    if factory is not None:
        _check_halves(name, graph, shape, out_channels)
    out = graph.output.output_shape
    cov = coverage_map(op_graph(op, (1, *shape), name, trace))
    grid = tuple(
        tuple(int(v) for v in row[: opts.grid_size]) for row in cov.counts[: opts.grid_size]
    )
    x = photos[: opts.batch, :, :-2, :-2].to(device)
    if x.shape[0] < opts.batch:
        x = x.repeat(-(-opts.batch // x.shape[0]), 1, 1, 1)[: opts.batch]
    return OpResult(
        name=name,
        doc=_doc(name, factory),
        output_shape=(int(out[1] or 0), int(out[2] or 0), int(out[3] or 0)),
        params=graph.params,
        macs=graph.macs,
        activation_bytes=graph.activation_bytes,
        read_fraction=cov.fraction,
        recoverable=recoverable_fraction(op, shape[0], opts.jacobian_size, seed),
        aliasing=aliasing_share(op, photos[:, :, :-2, :-2]),
        shift_error=shift_errors(op, photos),
        latency=measure_latency(op, x, opts.latency_min_time),
        response=frequency_response(op, shape[0], 64, frequencies),
        read_grid=grid,
    )


def compare(
    input_shape: tuple[int, int, int],
    out_channels: int,
    ops: Sequence[str] | None = None,
    *,
    device: str = "cpu",
    seed: int = 0,
    options: CompareOptions | None = None,
    progress: Progress | None = None,
    custom: Mapping[str, Factory] | None = None,
    trace: Trace | None = None,
) -> Comparison:
    """Measure ``ops`` (default: all) on inputs of ``input_shape`` = (C, H, W).

    ``progress(name, done, total)`` is called after each operator. ``custom`` names a user's
    operators (``factory(in_channels, out_channels)`` returning an ``nn.Module`` that maps
    ``(N, C, H, W)`` to ``(N, out_channels, H/2, W/2)``); list their names in ``ops``.
    ``trace`` describes a module without ``stridescope_ir`` to the IR
    (``stridescope.compare`` passes the PyTorch frontend).
    """
    names = tuple(op_names() if ops is None else ops)
    dev = check_request(input_shape, out_channels, names, device, options, custom, trace)
    opts = options or CompareOptions()
    c, h, w = input_shape
    photos = load_images((c, h + 2, w + 2), opts.images)  # two spare pixels for crop shifts
    frequencies = response_frequencies(opts.response_points)
    results = []
    for index, name in enumerate(names):
        factory = (custom or {}).get(name)
        result = _measure(
            name, input_shape, out_channels, seed, opts, dev, photos, frequencies, factory, trace
        )
        results.append(result)
        if progress is not None:
            progress(name, index + 1, len(names))
    return Comparison(input_shape, out_channels, device, seed, opts, frequencies, tuple(results))
