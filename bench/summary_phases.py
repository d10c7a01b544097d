"""Where ``stridescope.summary``'s time goes, per zoo model: the trace, then the summary's parts.

Per model of ``bench/zoo_models.py``: nodes, the trace (``load_graph``), the whole summary of
the traced graph, and within it the receptive fields, the input coverage, the lint codes and
the rest (rows, totals). Thread CPU milliseconds, minimum of ``--repeats`` runs, 1 thread.

    .venv/bin/python bench/summary_phases.py --models shufflenet_v2_x1_0,lcnet_050
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from zoo import cpu_times
from zoo_models import ZOO, ZooModel, missing_packages

from stridescope.analysis.lint import lint_graph
from stridescope.analysis.summary import input_coverage, summarize
from stridescope.analysis.summary_rf import receptive_fields
from stridescope.frontends import load_graph


def best_ms(fn: Callable[[], Any], repeats: int) -> float:
    """Minimum thread CPU milliseconds of ``fn`` over ``repeats`` calls, after a warm-up."""
    return min(cpu_times(fn, repeats)) * 1e3


def phases(entry: ZooModel, n: int) -> str:
    """One table line: nodes, trace, summary, and the summary's parts, in ms."""
    model, shape = entry.build(), entry.input_shape
    graph = load_graph(model, shape)
    trace = best_ms(lambda: load_graph(model, shape), n)
    whole = best_ms(lambda: summarize(graph), n)
    rf = best_ms(lambda: receptive_fields(graph), n)
    cov = best_ms(lambda: input_coverage(graph), n)
    states, coverage = receptive_fields(graph), input_coverage(graph)
    lint = best_ms(lambda: lint_graph(graph, detail=False, states=states, coverage=coverage), n)
    rest = whole - rf - cov - lint
    return (
        f"{entry.name:24s} {len(graph.nodes):5d} {trace:6.2f} {whole:5.2f} | "
        f"{rf:5.2f} {cov:5.2f} {lint:5.2f} {rest:5.2f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", required=True, help="comma-separated zoo names")
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    if missing_packages():
        print(f"not installed: {', '.join(missing_packages())}; see bench/zoo_models.py")
        return 2
    names = args.models.split(",")
    unknown = [n for n in names if n not in {m.name for m in ZOO}]
    if unknown:
        print(f"unknown models {unknown}; known: {', '.join(m.name for m in ZOO)}")
        return 2
    torch.set_num_threads(1)
    print(f"{'model':24s} nodes  trace summ |   rf   cov  lint  rows")
    for name in names:
        print(phases(next(m for m in ZOO if m.name == name), args.repeats), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
