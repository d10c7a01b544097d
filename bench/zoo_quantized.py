"""Quantized models against the float models they were converted from: torchvision's quantizable
classification models built with ``quantize=True`` (eager-mode ``convert``, random weights, no
download), each against the same definition built unquantized and fused (``fuse_model``, what
``convert`` starts from), then scripted and traced, saved and loaded (``torch.jit``: no Python
forward left, ``quantized::`` operations on packed weights), against the quantized model.

Per model and form, one row: stridescope's parameters against the reference's, torch's own
count of the quantized model's parameters (0: its weights are packed, not parameters), the
MACs ratio, whether every node matches (kind, output shape, parameters, MACs, window; the
compiled forms: totals only, their graphs spell some operations otherwise) and the uncounted
nodes. Exit 1 if a row misses.

    .venv/bin/python bench/zoo_quantized.py [--models resnet18,googlenet] [--no-compiled]

Needs torchvision as ``bench/zoo.py`` says (``--no-deps``, imported with its compiled-ops
stub).
"""

from __future__ import annotations

import argparse
import io
import sys
import warnings
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from zoo_models import import_stubbed_torchvision

from stridescope.frontends import load_graph
from stridescope.ir import Graph

MODELS = (
    "resnet18",
    "resnet50",
    "resnext101_32x8d",
    "mobilenet_v2",
    "mobilenet_v3_large",
    "shufflenet_v2_x1_0",
    "googlenet",
    "inception_v3",
)
SHAPE = (1, 3, 224, 224)


def _facts(graph: Graph) -> list[tuple[object, ...]]:
    return [(n.kind, n.output_shape, n.params, n.macs, n.window) for n in graph.nodes]


def _row(name: str, form: str, graph: Graph, reference: Graph, torch_params: int) -> bool:
    """Print one row; whether it meets the goals (parameters and MACs equal, nothing
    uncounted; the Python form also node by node)."""
    same = _facts(graph) == _facts(reference) if form == "python" else None
    ok = (graph.params, graph.macs) == (reference.params, reference.macs) and not graph.uncounted
    ok = ok and same is not False
    print(
        f"{name:20} {form:7} {graph.params:>11,} / {reference.params:<11,} {torch_params:>6} "
        f"{graph.macs / max(reference.macs, 1):8.5f} {'-' if same is None else same!s:>6} "
        f"{len(graph.uncounted):3}  {'ok' if ok else 'MISS'}"
    )
    return ok


def _compiled(model: torch.nn.Module, form: str) -> Any:
    """``model`` scripted or traced, saved and loaded back (``None`` if torch cannot)."""
    try:
        compiled = (
            torch.jit.script(model)
            if form == "script"
            else torch.jit.trace(model, torch.rand(SHAPE), check_trace=False)
        )
        buffer = io.BytesIO()
        torch.jit.save(compiled, buffer)
        buffer.seek(0)
        return torch.jit.load(buffer)
    except Exception as e:  # (torch's own limits: a traced Inception-v3 does not save)
        first = next((line for line in str(e).splitlines() if line.strip()), "")
        print(f"{'':20} {form:7} torch cannot: {type(e).__name__}: {first[:60]}")
        return None


def check(name: str, compiled: bool) -> bool:
    """The rows of one model; whether all meet the goals."""
    from torchvision.models import quantization

    build = getattr(quantization, name)
    torch.manual_seed(0)
    float_model = build(weights=None, quantize=False).eval()
    float_model.fuse_model(is_qat=False)
    quantized = build(weights=None, quantize=True).eval()
    reference, graph = load_graph(float_model, SHAPE), load_graph(quantized, SHAPE)
    packed = sum(p.numel() for p in quantized.parameters())
    ok = _row(name, "python", graph, reference, packed)
    for form in ("script", "trace") if compiled else ():
        loaded = _compiled(quantized, form)
        if loaded is not None:
            ok = _row(name, form, load_graph(loaded, SHAPE), graph, packed) and ok
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", help="comma-separated names (default: all eight)")
    parser.add_argument("--no-compiled", action="store_true", help="the Python models only")
    args = parser.parse_args()
    names = args.models.split(",") if args.models else list(MODELS)
    unknown = sorted(set(names) - set(MODELS))
    if unknown:
        print(f"unknown models: {', '.join(unknown)}; known: {', '.join(MODELS)}")
        return 2
    import_stubbed_torchvision()
    warnings.filterwarnings("ignore")  # torchvision's init and TorchScript's deprecations
    torch.set_num_threads(1)
    print(
        f"{'model':20} {'form':7} {'params (ours / reference)':>25} {'torch':>6} "
        f"{'MACs':>8} {'nodes':>6} unc"
    )
    results = [check(name, not args.no_compiled) for name in names]
    print(f"{sum(results)} of {len(results)} models meet every goal")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
