"""The public Python API: ``stridescope.summary(...)`` and ``stridescope.coverage(...)``.

Each reads as a pipeline: resolve the target into an IR graph, analyse it, return a typed,
JSON-ready result (rendering is the caller's business).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stridescope.analysis.summary import Summary, summarize
from stridescope.frontends.load import load_graph
from stridescope.ir import Shape

if TYPE_CHECKING:
    from stridescope.analysis.coverage import CoverageMap

__all__ = ["coverage", "summary"]


def summary(
    target: object, input_shape: Shape | str | None = None, depth: int | None = None
) -> Summary:
    """Summarise a model: per layer shape, params, MACs, activation memory, receptive field
    and read fraction; totals; the share of input pixels that can influence the output.

    ``target``: an ``nn.Module``, a Keras model, an IR graph, or a string
    (``FILE.py:FACTORY``, ``package.module:ATTR``, ``FILE.keras``, ``FILE.toml``).
    ``input_shape`` (batch first, e.g. ``(1, 3, 224, 224)`` or ``"1x3x224x224"``) is required
    for PyTorch models and overrides a spec's or Keras model's own. ``depth=N`` groups layers
    by the first N components of their module path.

    >>> from stridescope.ir import GraphBuilder
    >>> b = GraphBuilder((1, 3, 16, 16), "nchw")
    >>> _ = b.conv(b.input, "down", out_channels=8, kernel=1, stride=2)
    >>> summary(b.build()).layers[0].flags
    ('stride > kernel: reads 25% of its input',)
    """
    return summarize(load_graph(target, input_shape), depth)


def coverage(target: object, input_shape: Shape | str | None = None) -> CoverageMap:
    """The exact map of input pixels that influence the output, with per-pixel counts of the
    receptive-field windows (of the last spatial layer's outputs) that contain them.

    >>> from stridescope.ir import GraphBuilder
    >>> b = GraphBuilder((1, 3, 4, 4), "nchw")
    >>> _ = b.conv(b.input, "down", out_channels=8, kernel=1, stride=2)
    >>> coverage(b.build()).counts.tolist()
    [[1, 0, 1, 0], [0, 0, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]]
    """
    from stridescope.analysis.coverage import coverage_map

    return coverage_map(load_graph(target, input_shape))
