"""Compare downsampling operators side by side: cost, coverage, signal metrics and latency,
on images ``(C, H, W)`` or signals ``(C, L)``.

A pipeline: build each operator (seeded, in the input's rank), describe it to the IR (shape,
params, MACs, activation bytes, read fraction), measure the signal metrics on real data
(aliasing, shift errors, recoverable information, frequency response) and time it. Images are
measured on bundled photographs; signals on speech (espeak-ng), chirps and band-limited noise
(:mod:`stridescope.analysis.signal_data`), aliasing on each source.

>>> c = compare((3, 16, 16), 8, ["conv1x1_s2", "s2d_conv1x1"],
...             options=CompareOptions(images=1, latency_min_time=0.001))
>>> [(r.name, r.output_shape, r.params, r.recoverable) for r in c.results]
[('conv1x1_s2', (8, 8, 8), 32, 0.25), ('s2d_conv1x1', (8, 8, 8), 104, 0.6666666666666666)]
>>> one_d = CompareOptions(images=1, latency_min_time=0.001, sources=("chirp",))
>>> r = compare((2, 64), 4, ["conv1x1_s2"], options=one_d).results[0]
>>> r.output_shape, r.read_fraction, r.recoverable
((4, 32), 0.5, 0.5)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch

from stridescope.analysis.compare_request import (
    LIMITS,
    CompareOptions,
    Factory,
    Trace,
    build_op,
    check_halves,
    check_request,
    op_graph,
)
from stridescope.analysis.coverage import coverage_map
from stridescope.analysis.images import load_images
from stridescope.analysis.latency import Latency, measure_latency
from stridescope.analysis.signal import aliasing_share, frequency_response, response_frequencies
from stridescope.analysis.signal_rank import recoverable_fraction
from stridescope.analysis.signal_shift import ShiftErrors, shift_errors
from stridescope.analysis.units import position_noun
from stridescope.errors import StridescopeError
from stridescope.ops import OPS, op_names

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


@dataclass(frozen=True)
class OpResult:
    """Every metric of one operator."""

    name: str
    doc: str
    output_shape: tuple[int, ...]  #: (C_out, H', W') or (C_out, L')
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
    #: aliasing on each source measured (photos; speech, chirp, noise); ``aliasing`` is the
    #: main source's
    aliasing_by_source: tuple[tuple[str, float], ...] = ()

    def to_dict(self) -> dict[str, object]:
        """The JSON record: the documented keys plus ``doc``, ``activation_bytes``,
        ``response``, ``read_grid`` and ``aliasing_by_source``."""
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
            "aliasing_by_source": dict(self.aliasing_by_source),
        }
        return record


@dataclass(frozen=True)
class Comparison:
    """The operators measured on one input shape, ``(C, H, W)`` or ``(C, L)``."""

    input_shape: tuple[int, ...]
    out_channels: int
    device: str
    seed: int
    options: CompareOptions
    frequencies: tuple[float, ...]
    results: tuple[OpResult, ...]
    sources: tuple[str, ...] = ("photos",)  #: what aliasing was measured on; first: the main
    notes: tuple[str, ...] = ()

    @property
    def position_unit(self) -> str:
        """``'samples'`` (a signal) or ``'pixels'`` (an image)."""
        return position_noun(len(self.input_shape) - 1)

    def to_dict(self) -> dict[str, object]:
        return {
            "ops": [r.to_dict() for r in self.results],
            "input_shape": list(self.input_shape),
            "position_unit": self.position_unit,
            "out_channels": self.out_channels,
            "device": self.device,
            "seed": self.seed,
            "frequencies": list(self.frequencies),
            "sources": list(self.sources),
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class _Data:
    """What the signal metrics run on: the main source with 2 spare positions per axis (for
    crop shifts), and every source without them (aliasing)."""

    padded: torch.Tensor
    by_source: Mapping[str, torch.Tensor]
    sources: tuple[str, ...]
    notes: tuple[str, ...]


def _spare(x: torch.Tensor) -> torch.Tensor:
    """``x`` without the 2 spare positions at the end of every spatial axis."""
    return x[(slice(None), slice(None), *(slice(None, -2),) * (x.dim() - 2))]


def _data(shape: tuple[int, ...], opts: CompareOptions) -> _Data:
    if len(shape) == 3:
        c, h, w = shape
        photos = load_images((c, h + 2, w + 2), opts.images)  # two spare pixels for crop shifts
        return _Data(photos, {"photos": _spare(photos)}, ("photos",), ())
    from stridescope.analysis.signal_data import available_sources, load_signals

    ready = available_sources()
    chosen = tuple(s for s in opts.sources if s in ready)
    notes = tuple(
        f"{s} skipped: espeak-ng is not installed (apt-get install espeak-ng)"
        for s in opts.sources
        if s not in ready
    )
    if not chosen:
        raise StridescopeError(
            f"no signal source can be made here: {'; '.join(notes)}; add chirp or noise"
        )
    c, length = shape
    padded = {s: load_signals(s, (c, length + 2), opts.images) for s in chosen}
    by_source = {s: _spare(x) for s, x in padded.items()}
    return _Data(padded[chosen[0]], by_source, chosen, notes)


def _doc(name: str, factory: Factory | None) -> str:
    if factory is None:
        return OPS.get(name).doc
    lines = (factory.__doc__ or "").strip().splitlines()
    return lines[0] if lines else "a user's operator"


def _grid(array: npt.NDArray[np.int64], size: int) -> tuple[tuple[int, ...], ...]:
    """The top-left ``size x size`` read counts; a signal's first ``4 * size`` samples."""
    if array.ndim == 1:
        return (tuple(int(v) for v in array[: 4 * size]),)
    return tuple(tuple(int(v) for v in row[:size]) for row in array[:size])


def _measure(
    name: str,
    shape: tuple[int, ...],
    out_channels: int,
    seed: int,
    opts: CompareOptions,
    device: torch.device,
    data: _Data,
    frequencies: tuple[float, ...],
    factory: Factory | None = None,
    trace: Trace | None = None,
) -> OpResult:
    rank = len(shape) - 1
    torch.manual_seed(seed)
    op = build_op(name, factory, shape[0], out_channels, rank).eval()
    graph = op_graph(op, (opts.batch, *shape), name, trace)
    if factory is not None:
        check_halves(name, graph, shape, out_channels)
    out = graph.output.output_shape
    cov = coverage_map(op_graph(op, (1, *shape), name, trace))
    x = _spare(data.padded)[: opts.batch].to(device)
    if x.shape[0] < opts.batch:
        x = x.repeat(-(-opts.batch // x.shape[0]), *(1,) * (x.dim() - 1))[: opts.batch]
    aliasing = {source: aliasing_share(op, v) for source, v in data.by_source.items()}
    return OpResult(
        name=name,
        doc=_doc(name, factory),
        output_shape=tuple(int(d or 0) for d in out[1:]),
        params=graph.params,
        macs=graph.macs,
        activation_bytes=graph.activation_bytes,
        read_fraction=cov.fraction,
        recoverable=recoverable_fraction(op, shape[0], opts.jacobian_size, seed, rank),
        aliasing=aliasing[data.sources[0]],
        shift_error=shift_errors(op, data.padded),
        latency=measure_latency(op, x, opts.latency_min_time),
        response=frequency_response(op, shape[0], 64, frequencies, rank),
        read_grid=_grid(cov.counts, opts.grid_size),
        aliasing_by_source=tuple(aliasing.items()),
    )


def compare(
    input_shape: tuple[int, ...],
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
    """Measure ``ops`` (default: all) on inputs of ``input_shape`` = (C, H, W), or (C, L)
    for signals (the zoo in 1-D: 1-tap stride 2, 3-tap stride 2, pools + 1-tap, blur + 1-tap,
    fold + 1-tap, polyphase, depthwise-separable).

    ``progress(name, done, total)`` is called after each operator. ``custom`` names a user's
    operators (``factory(in_channels, out_channels)`` returning an ``nn.Module`` that maps
    ``(N, C, H, W)`` to ``(N, out_channels, H/2, W/2)``, or ``(N, C, L)`` to
    ``(N, out_channels, L/2)``); list their names in ``ops``.
    ``trace`` describes a module without ``stridescope_ir`` to the IR
    (``stridescope.compare`` passes the PyTorch frontend).
    """
    names = tuple(op_names() if ops is None else ops)
    dev = check_request(input_shape, out_channels, names, device, options, custom, trace)
    opts = options or CompareOptions()
    data = _data(input_shape, opts)
    frequencies = response_frequencies(opts.response_points)
    results = []
    for index, name in enumerate(names):
        factory = (custom or {}).get(name)
        result = _measure(
            name, input_shape, out_channels, seed, opts, dev, data, frequencies, factory, trace
        )
        results.append(result)
        if progress is not None:
            progress(name, index + 1, len(names))
    return Comparison(
        input_shape,
        out_channels,
        device,
        seed,
        opts,
        frequencies,
        tuple(results),
        data.sources,
        data.notes,
    )
