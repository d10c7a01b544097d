"""Lint speed: ``stridescope.lint`` against ``stridescope.summary`` on the same targets, as
ratios in one process (1 thread, medians of repeats).

Goals (issue 11): lint takes at most 1.5x the summary's time on the same model, and answers
in well under a second on a 50-layer model (goal: ResNet-50 under 0.25 s). Both calls are
whole, as a user makes them (trace, then analyse); lint includes pricing every finding's fix
(each policy's replacement built on the IR and checked by the finding's own rule). DS401's aliasing shares come from the
cache in the timed runs; the cold cost (first measurement in a process, empty cache) is
printed first. Exits 1 if a goal is missed.

    .venv/bin/python bench/lint_speed.py [--repeats 15]

Each round times the summary and the lint of one target back to back (alternating which goes
first); the ratio is the median of the per-round ratios, so a slow phase of a shared machine
slows both calls of a round alike.

The ResNets are hand-written (``tests/frontends/pytorch/resnet_models.py``, torchvision layout);
torchvision and timm are not needed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

# the hand-written ResNets
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "frontends" / "pytorch"))
from resnet_models import resnet50, seed_cnn

from stridescope.api import lint, summary

ROOT = Path(__file__).resolve().parents[1]
RATIO_GOAL = 1.5
RESNET_GOAL = 0.25  # seconds


def resnet_d() -> nn.Module:
    """ResNet-50 with ResNet-D shortcuts (2x2 average pool, then the 1x1 at stride 1)."""
    model = resnet50(device="meta")
    for stage in (model.layer2, model.layer3, model.layer4):
        block = stage[0]
        conv, norm = block.downsample[0], block.downsample[1]
        with torch.device("meta"):
            block.downsample = nn.Sequential(
                nn.AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False),
                nn.Conv2d(conv.in_channels, conv.out_channels, 1, bias=False),
                norm,
            )
    return model


def targets() -> dict[str, tuple[object, tuple[int, ...] | None]]:
    resnet20 = str(ROOT / "examples" / "resnet20_option_a.py:resnet20")
    return {
        "ResNet-50 v1 (224)": (resnet50(stride_in_1x1=True, device="meta"), (1, 3, 224, 224)),
        "ResNet-50 v1.5 (224)": (resnet50(device="meta"), (1, 3, 224, 224)),
        "ResNet-50-D (224)": (resnet_d(), (1, 3, 224, 224)),
        "ResNet-50 v1.5 (1024)": (resnet50(device="meta"), (1, 3, 1024, 1024)),
        "ResNet-20 option A (32)": (resnet20, (1, 3, 32, 32)),
        "seed CNN, PyTorch": (seed_cnn(), (1, 3, 32, 32)),
        "seed CNN, spec file": (str(ROOT / "examples" / "seed_cnn.toml"), None),
        "seed CNN, Keras": (str(ROOT / "examples" / "seed_cnn_keras.py:build"), None),
    }


def _seconds(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def paired(
    summarize: Callable[[], Any], lint_it: Callable[[], Any], repeats: int
) -> tuple[float, float, float]:
    """Median summary time, median lint time and the median of the per-round ratios: each
    round runs both, in alternating order, so a slow phase of a shared machine hits both."""
    summarize(), lint_it()  # warm-up (and, for lint, the aliasing cache)
    plain, linted, ratios = [], [], []
    for index in range(repeats):
        if index % 2:
            b, a = _seconds(lint_it), _seconds(summarize)
        else:
            a, b = _seconds(summarize), _seconds(lint_it)
        plain.append(a)
        linted.append(b)
        ratios.append(b / a)
    return statistics.median(plain), statistics.median(linted), statistics.median(ratios)


def cold_seconds() -> tuple[float, int]:
    """The first lint of ResNet-50 v1 in this process with an empty aliasing cache."""
    model = resnet50(stride_in_1x1=True, device="meta")
    start = time.perf_counter()
    report = lint(model, (1, 3, 224, 224))
    seconds = time.perf_counter() - start
    configs = {str(f.evidence["configuration"]) for f in report.findings if f.code == "DS401"}
    return seconds, len(configs)


def flags_share(repeats: int) -> tuple[float, float]:
    """On the traced ResNet-50 v1: the summary's own analysis time, and the part of it its
    flags column spends in the lint rules (codes only)."""
    from stridescope.analysis.lint import lint_graph
    from stridescope.analysis.summary import input_coverage, summarize
    from stridescope.analysis.summary_rf import receptive_fields
    from stridescope.frontends import load_graph

    graph = load_graph(resnet50(stride_in_1x1=True, device="meta"), (1, 3, 224, 224))
    states, coverage = receptive_fields(graph), input_coverage(graph)
    whole, codes, _ = paired(
        lambda: summarize(graph),
        lambda: lint_graph(graph, detail=False, states=states, coverage=coverage),
        repeats,
    )
    return whole, codes


def table(repeats: int) -> tuple[float, float]:
    """Print one row per target; return the largest ratio and ResNet-50 v1's lint time."""
    print(f"  {'model':26} {'summary ms':>11} {'lint ms':>9} {'lint/summary':>13}")
    ratios, resnet = [], 0.0
    for name, (target, shape) in targets().items():
        plain, linted, ratio = paired(
            lambda t=target, s=shape: summary(t, s),
            lambda t=target, s=shape: lint(t, s),
            repeats,
        )
        ratios.append(ratio)
        if name.startswith("ResNet-50 v1 "):
            resnet = linted
        print(f"  {name:26} {plain * 1e3:11.2f} {linted * 1e3:9.2f} {ratio:12.2f}x")
    return max(ratios), resnet


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    repeats = parser.parse_args().repeats
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as cache:
        os.environ["STRIDESCOPE_ALIASING_CACHE"] = str(Path(cache) / "aliasing.json")
        cold, configs = cold_seconds()
        print(f"1 thread, {repeats} paired rounds, medians; aliasing cache warm after the first")
        print(
            f"  cold: first lint of ResNet-50 v1, empty cache, {configs} configurations: {cold:.2f} s"
        )
        worst, resnet = table(repeats)
        whole, codes = flags_share(repeats)
    print(f"  largest lint/summary ratio  {worst:.2f}x  (goal <= {RATIO_GOAL:g}x)")
    print(f"  lint of ResNet-50 v1        {resnet * 1e3:.1f} ms  (goal < {RESNET_GOAL * 1e3:g} ms)")
    print(f"  summary analysis of the traced ResNet-50 v1: {whole * 1e3:.2f} ms, of which the")
    print(f"  flags column's lint rules (codes only): {codes * 1e3:.2f} ms")
    checks = (("ratio", worst <= RATIO_GOAL), ("ResNet-50", resnet < RESNET_GOAL))
    missed = [text for text, ok in checks if not ok]
    if missed:
        print(f"goal missed: {', '.join(missed)}")
        return 1
    print("all goals met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
