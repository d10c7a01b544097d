"""The public Python API: ``stridescope.summary(...)``, ``stridescope.lint(...)``,
``stridescope.coverage(...)``, ``stridescope.compare(...)``, ``stridescope.fix(...)`` and
``stridescope.consistency(...)``.

Each reads as a pipeline: resolve the target into an IR graph, analyse it, return a typed,
JSON-ready result (rendering is the caller's business).
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Mapping, Sequence
from functools import partial as partial_of
from pathlib import Path
from typing import TYPE_CHECKING

from stridescope.analysis.summary import Summary, summarize
from stridescope.frameworks import is_keras_model
from stridescope.frontends.inputs import Inputs
from stridescope.frontends.load import load_graph, model_of
from stridescope.gc_pause import gc_paused

if TYPE_CHECKING:
    from torch import nn

    from stridescope.analysis.compare import CompareOptions, Comparison
    from stridescope.analysis.consistency_records import ConsistencyOptions, ConsistencyReport
    from stridescope.analysis.coverage import CoverageMap
    from stridescope.analysis.lint import LintReport
    from stridescope.ir import Graph
    from stridescope.surgery import Fixed
    from stridescope.surgery.estimate import LayerCheck

__all__ = ["compare", "consistency", "coverage", "fix", "lint", "summary"]


def summary(
    target: object,
    input_shape: Inputs = None,
    depth: int | None = None,
    *,
    sample_rate: float | None = None,
    partial: bool = False,
) -> Summary:
    """Summarise a model: per layer shape, params, MACs, activation memory, receptive field
    and read fraction; totals; the share of input positions (samples, pixels or voxels) that
    can influence the output.

    ``target``: an ``nn.Module``, a Keras model, an IR graph, or a string
    (``FILE.py:FACTORY``, ``package.module:ATTR``, ``FILE.keras``, ``FILE.toml``).
    ``input_shape`` (batch first, e.g. ``(1, 3, 224, 224)`` or ``"1x3x224x224"``) is required
    for PyTorch models and overrides a spec's or Keras model's own; a list of shapes feeds a
    PyTorch model whose forward takes several inputs (coverage and the receptive field are
    measured on the first). ``depth=N`` groups layers by the first N components of their
    module path. ``sample_rate`` (Hz along the first spatial axis: a 1-D signal's samples, a
    3-D video's frames) adds the receptive field and jump in milliseconds. ``partial``: where
    a PyTorch forward reads tensor values (a detector's post-processing sizing a mask by
    ``int(box[2] - box[0])``), which a shape-only trace refuses, summarise the ops before
    it, with a note that says where it stopped.

    >>> from stridescope.ir import GraphBuilder
    >>> b = GraphBuilder((1, 3, 16, 16), "nchw")
    >>> _ = b.conv(b.input, "down", out_channels=8, kernel=1, stride=2)
    >>> summary(b.build()).layers[0].flags  # the codes stridescope.lint reports for it
    ('DS101', 'DS401')
    """
    with gc_paused():  # its objects die with the call: see gc_pause
        result = summarize(_loaded(target, input_shape, partial), depth)
    return result if sample_rate is None else result.at_sample_rate(sample_rate)


def lint(
    target: object,
    input_shape: Inputs = None,
    select: str | Sequence[str] | None = None,
    ignore: str | Sequence[str] | None = None,
    severity: Mapping[str, str] | str | Sequence[str] | None = None,
    *,
    partial: bool = False,
) -> LintReport:
    """Find every downsampling problem in a model, with its evidence and the ``stridescope
    fix`` policy that removes it, priced on the IR (``finding.fix``: Δparams and ΔMACs, the
    numbers ``stridescope fix`` reports for those layers; ``None`` where the policy cannot
    swap them as they are): skipped input (DS101), dropped borders (DS201), unread
    input (DS202), misaligned merges (DS301), aliasing (DS401), a receptive field short of
    the input (DS501), ops not understood (DS001). Computed from the IR; only DS401's
    aliasing share is measured, once per layer configuration (then cached).

    ``target`` and ``input_shape`` as for :func:`summary`. ``select`` / ``ignore``: codes or
    prefixes (``"DS101"``, ``["DS1", "DS3"]``, ``"DS101,DS2"``); ``severity`` overrides the
    default severity per code or prefix (``{"DS201": "warning"}``, or ``"DS201=warning"``
    strings as the command line takes them); ``partial`` as for :func:`summary`.

    >>> from stridescope.ir import GraphBuilder
    >>> b = GraphBuilder((1, 3, 16, 16), "nchw")
    >>> _ = b.conv(b.input, "down", out_channels=8, kernel=1, stride=2)
    >>> report = lint(b.build(), ignore="DS4,DS5", severity={"DS101": "error"})
    >>> [(f.code, f.severity, f.layer, f.policy) for f in report.findings]
    [('DS101', 'error', 'down', 'resnet-d'), ('DS202', 'warning', None, 'resnet-d')]
    >>> report.findings[0].fix  # what `stridescope fix --policy resnet-d` reports for it
    Fix(policy='resnet-d', delta_params=0, delta_macs=768)
    """
    from stridescope.analysis.lint import LintOptions, lint_graph
    from stridescope.surgery.estimate import fix_estimate

    options = LintOptions.parse(select, ignore, severity)  # bad codes fail before loading
    with gc_paused():
        model = model_of(target)  # (loaded once: its graph, and what fix says of its layers)
        graph = _loaded(model, input_shape, partial)
        if model is not target:  # (named after the target given, as load_graph names it)
            graph = dataclasses.replace(graph, source=str(target))
        check = _layer_check(model)
        estimate = fix_estimate if check is None else partial_of(fix_estimate, check=check)
        return lint_graph(graph, options, fix_estimate=estimate)


def _layer_check(target: object) -> LayerCheck | None:
    """What ``fix`` says of the layers of ``target``, where it is a model fix takes (see
    :func:`~stridescope.surgery.estimate.fix_estimate`): a PyTorch module or a Keras model;
    ``None`` else (a spec file, a graph: the IR's price)."""
    if is_keras_model(target):
        from stridescope.surgery.keras_apply import layer_check as keras_check

        return keras_check(target)
    if "torch" in sys.modules:
        from torch import nn

        if isinstance(target, nn.Module):
            from stridescope.surgery.torch_apply import layer_check

            return layer_check(target)
    return None


def _loaded(target: object, input_shape: Inputs, partial: bool) -> Graph:
    """:func:`load_graph`; ``partial``: a PyTorch forward that reads tensor values gives the
    graph of the ops before it (:mod:`~stridescope.frontends.pytorch.partial_traces`)."""
    if not partial:
        return load_graph(target, input_shape)
    from stridescope.frontends.pytorch.partial_traces import partial_traces

    with partial_traces():
        return load_graph(target, input_shape)


def coverage(target: object, input_shape: Inputs = None) -> CoverageMap:
    """The exact map of input positions (samples, pixels or voxels) that influence the output,
    with per-position counts of the receptive-field windows (of the last spatial layer's
    outputs) that contain them.

    >>> from stridescope.ir import GraphBuilder
    >>> b = GraphBuilder((1, 3, 4, 4), "nchw")
    >>> _ = b.conv(b.input, "down", out_channels=8, kernel=1, stride=2)
    >>> coverage(b.build()).counts.tolist()
    [[1, 0, 1, 0], [0, 0, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]]
    """
    from stridescope.analysis.coverage import coverage_map

    with gc_paused():
        return coverage_map(load_graph(target, input_shape))


def compare(
    input_shape: tuple[int, ...],
    out_channels: int,
    ops: Sequence[str] | None = None,
    *,
    device: str = "cpu",
    seed: int = 0,
    options: CompareOptions | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    custom: Mapping[str, Callable[[int, int], nn.Module]] | None = None,
) -> Comparison:
    """Measure downsampling operators side by side on ``input_shape`` = (C, H, W), or (C, L)
    for a signal (the zoo in 1-D, aliasing on speech, chirps and noise): cost, reads,
    recoverable information, aliasing, shift errors, latency (``ops``: zoo names, default
    all). ``custom`` adds your own: ``{name: factory}``, where
    ``factory(in_channels, out_channels)`` returns an ``nn.Module`` mapping ``(N, C, H, W)``
    to ``(N, out_channels, H/2, W/2)`` (``(N, C, L)`` to ``(N, out_channels, L/2)``; either
    rounding); list its name in ``ops``. It is traced by the PyTorch frontend, so its cost
    and reads come out as for the zoo.

    >>> from torch import nn
    >>> from stridescope.analysis.compare import CompareOptions
    >>> def strided_3x3(c_in: int, c_out: int) -> nn.Module:
    ...     return nn.Conv2d(c_in, c_out, 3, stride=2, padding=1)
    >>> c = compare((3, 16, 16), 8, ["conv1x1_s2", "mine"], custom={"mine": strided_3x3},
    ...             options=CompareOptions(images=1, latency_min_time=0.001))
    >>> [(r.name, r.params, r.read_fraction) for r in c.results]
    [('conv1x1_s2', 32, 0.25), ('mine', 224, 1.0)]
    """
    from stridescope.analysis.compare import compare as measure
    from stridescope.frontends.pytorch import trace_torch

    return measure(
        input_shape,
        out_channels,
        ops,
        device=device,
        seed=seed,
        options=options,
        progress=progress,
        custom=custom,
        trace=trace_torch,
    )


def fix(
    model: object,
    policy: str,
    *,
    select: Sequence[str] | str | None = None,
    input_shape: Inputs = None,
    filter_size: int | None = None,
) -> Fixed:
    """A new model with the downsampling layers swapped under ``policy`` (``blurpool``,
    ``blurpool-first``, ``resnet-d``, ``s2d``, ``aps``), weights kept; the original model is
    never modified. ``.changes`` lists, per layer, what it was and became, Δparams, ΔMACs and
    whether its output at the start is identical, equal in expectation or changed;
    ``.unchanged`` the downsampling layers left as they are, with the reason. ``select``:
    layer paths or lint codes (``"DS101"``); ``input_shape``: needed for PyTorch models;
    ``filter_size``: the blur's taps (3, 4 or 5). See ``docs/fix.md``.

    >>> from torch import nn
    >>> fixed = fix(nn.Sequential(nn.Conv2d(3, 8, 1, stride=2)), "s2d", input_shape=(1, 3, 8, 8))
    >>> [(c.layer, c.after, c.delta_params, c.output_at_start) for c in fixed.changes]
    [('0', 'space-to-depth 2x2 → conv 1x1, 12→8', 72, 'identical')]
    """
    from stridescope.surgery import fix as run

    return run(model, policy, select=select, input_shape=input_shape, filter_size=filter_size)


def consistency(
    target: object,
    *,
    weights: str | Path | None = None,
    dataset: str = "mnist5k",
    dataset_path: str | Path | None = None,
    image_size: int | None = None,
    options: ConsistencyOptions | None = None,
) -> ConsistencyReport:
    """How shift-consistent a trained classifier is on a dataset's test images: accuracy,
        random-shift consistency (two shifts in ``[0, K)²`` per image; the share whose predicted
        classes agree, with a 95% interval over images), circular-shift consistency and the
        diagonal shift curve (probability of the correct class for shifts ``(s, s)``,
        ``s = 0 .. K``). See :mod:`stridescope.analysis.consistency` for the protocol.

        ``target``: an ``nn.Module`` or Keras model, or a string — ``FILE.py:FACTORY`` /
        ``package.module:ATTR`` (a factory is called with ``num_classes=`` the dataset's classes
        when it has that parameter) or ``FILE.keras``. ``weights``: a PyTorch ``state_dict`` file
        (read with ``torch.load(..., weights_only=True)``) or a ``.keras`` file (``safe_mode=True``)
        for a Keras model. ``dataset`` / ``dataset_path``: as for ``stridescope study``, split as
        a study splits it (the same test images). ``image_size``: resize the images to N x N
        (default: the dataset's own); grayscale images are repeated to three channels when the
        model's first layer takes three. ``options``: ``ConsistencyOptions(max_shift=K, seed=0)``
    (default K: a seventh of the image size).

        >>> from torch import nn
        >>> from stridescope.analysis.consistency import ConsistencyOptions
        >>> model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
        >>> report = consistency(model, dataset="digits", options=ConsistencyOptions(max_shift=3))
        >>> report.input_shape, report.measured.images, len(report.measured.shift_curve)
        ((1, 8, 8), 360, 4)
    """
    import torch

    from stridescope.analysis.classifier import check_classifier, classifier, fit_images
    from stridescope.analysis.consistency import (
        ConsistencyOptions,
        ConsistencyReport,
        measure_consistency,
    )
    from stridescope.frontends.load import load_model
    from stridescope.frontends.weights import load_weights
    from stridescope.study.data import STUDY_SPLIT_SEED, load_dataset

    opts = options or ConsistencyOptions()
    data = load_dataset(dataset, path=dataset_path, seed=STUDY_SPLIT_SEED)
    model = load_model(target, num_classes=data.num_classes) if isinstance(target, str) else target
    if weights is not None:
        load_weights(model, weights)
    clf = classifier(model)
    x = fit_images(torch.from_numpy(data.x_test), channels=clf.channels, image_size=image_size)
    check_classifier(clf, x, data.num_classes)
    y = torch.from_numpy(data.y_test)
    measured = measure_consistency(clf.predict, x, y, opts)
    c, h, w = (int(d) for d in x.shape[1:])
    source = target if isinstance(target, str) else type(target).__name__
    return ConsistencyReport(source, dataset, (c, h, w), data.num_classes, measured)
