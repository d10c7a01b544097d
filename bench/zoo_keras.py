"""Every Keras Application that builds on the torch backend (``weights=None``), summarised.

One row per application: built or not (NASNetMobile refuses the torch backend), summarised or
not, params against ``model.count_params()``, our MACs, our conv/linear/matmul MACs against
``FlopCounterMode`` / 2 on one real forward (Keras runs on torch here, so torch counts its
kernels), uncounted layers, and the time of ``stridescope.summary`` beside Keras' own
``model.summary()`` (1 thread, medians, same process).

Goals (issue 10; exit 1 if one is missed): every application that builds summarises, its
params equal ``count_params()`` (or the weights its graph uses, the rest named in a note),
its products are within 0.5% of the reference, and no layer is left uncounted.

    KERAS_BACKEND=torch .venv/bin/python bench/zoo_keras.py [--models ResNet50,EfficientNetB0]
                                                            [--repeats 3] [--markdown FILE]

Building all 40 takes ~5 minutes here (EfficientNetV2L alone ~25 s); ``--models`` picks some.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import torch
from zoo import MAC_TOLERANCE, flop_counter_macs, product_macs, report_goals

import stridescope
from stridescope.frontends import read_keras

#: Applications whose input size is left open: the size they were designed for.
OPEN_INPUT = {"MobileNetV3Large": 224, "MobileNetV3Small": 224}


@dataclass
class Row:
    name: str
    built: str = ""  # "" when built, else why not
    error: str = ""
    input_shape: tuple[int, ...] = ()
    params: int = 0
    keras_params: int = 0
    unused_note: str = ""  # the note naming weights no layer of the graph uses
    macs: int = 0
    products: int = 0  # conv, linear and matmul MACs
    flop_macs: int = 0  # the same, FlopCounterMode / 2 on a real forward
    uncounted: list[str] = field(default_factory=list)
    ours: float | None = None
    theirs: float | None = None


def median_seconds(fn: Callable[[], Any], repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def applications() -> list[str]:
    apps = keras.applications
    return sorted(n for n in dir(apps) if n[0].isupper() and callable(getattr(apps, n)))


def measure(name: str, repeats: int) -> Row:
    """One application's row (``repeats=0``: no timing)."""
    try:
        model = getattr(keras.applications, name)(weights=None)
    except ValueError as error:  # refuses this backend
        return Row(name, built=str(error).splitlines()[0].split(". ")[0][:160])
    size = OPEN_INPUT.get(name)
    return measure_model(name, model, (1, size, size, 3) if size else None, repeats)


def measure_model(name: str, model: Any, shape: tuple[int, ...] | None, repeats: int) -> Row:
    """The row of a built Keras model at ``shape`` (``None``: its own input, batch 1)."""
    shape = shape or (1, *model.input_shape[1:])
    row = Row(name, input_shape=shape, keras_params=model.count_params())
    try:
        graph = read_keras(model, shape)
    except Exception as error:  # the bench reports every failure, whatever its class
        row.error = f"{type(error).__name__}: {error}".splitlines()[0][:160]
        return row
    row.params = graph.params
    row.unused_note = next((n for n in graph.notes if "not used" in n), "")
    row.macs = graph.macs
    row.products = product_macs(graph)
    row.flop_macs = flop_counter_macs(model, shape)
    row.uncounted = sorted({n.op or str(n.kind) for n in graph.uncounted})
    if repeats:
        row.ours = median_seconds(lambda: stridescope.summary(model, input_shape=shape), repeats)
        row.theirs = median_seconds(lambda: model.summary(print_fn=lambda *a, **k: None), repeats)
    return row


def markdown(rows: list[Row], timing: bool = True, what: str = "application") -> str:
    """The table; ``timing=False`` leaves the two time columns out."""
    head = [what, "input", "summarised", "params (ours / count_params)", "GMACs"]
    head += ["products / FlopCounterMode", "uncounted"]
    head += ["ours ms", "Keras summary() ms"] if timing else []
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        if r.built:
            lines.append(f"| {r.name} | – | does not build: {r.built} |")
            continue
        size = "x".join(str(s) for s in r.input_shape[1:3])
        if r.error:
            lines.append(f"| {r.name} | {size} | **no**: {r.error} |")
            continue
        ok = "" if r.params == r.keras_params else " (note)" if r.unused_note else " **≠**"
        cells = [r.name, size, "yes", f"{r.params:,} / {r.keras_params:,}{ok}"]
        cells.append(f"{r.macs / 1e9:.3f}")
        cells.append(f"{r.products / max(r.flop_macs, 1):.4f}")
        cells.append(", ".join(r.uncounted) or "0")
        if timing:
            cells += [f"{(r.ours or 0) * 1e3:.1f}", f"{(r.theirs or 0) * 1e3:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def missed_goals(rows: list[Row]) -> list[str]:
    missed = []
    for r in rows:
        if r.built:
            continue
        if r.error:
            missed.append(f"{r.name}: not summarised ({r.error})")
        elif r.params != r.keras_params and not r.unused_note:
            missed.append(f"{r.name}: params {r.params:,} != count_params() {r.keras_params:,}")
        elif abs(r.products - r.flop_macs) > MAC_TOLERANCE * max(r.flop_macs, 1):
            missed.append(f"{r.name}: products {r.products:,} vs FlopCounterMode {r.flop_macs:,}")
        if r.uncounted:
            missed.append(f"{r.name}: uncounted {', '.join(r.uncounted)}")
    return missed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", help="comma-separated application names (default: all)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    args = parser.parse_args()
    known = applications()
    chosen = args.models.split(",") if args.models else known
    unknown = sorted(set(chosen) - set(known))
    if unknown:
        print(f"unknown application(s) {', '.join(unknown)}; known: {', '.join(known)}")
        return 2
    torch.set_num_threads(1)
    rows = []
    for name in chosen:
        start = time.perf_counter()
        rows.append(measure(name, args.repeats))
        keras.backend.clear_session()
        print(f"  {name:<22} {time.perf_counter() - start:6.1f} s", file=sys.stderr)
    table = markdown(rows)
    print(table)
    if args.markdown:
        args.markdown.write_text(table, encoding="utf-8")
    return report_goals(missed_goals(rows))


if __name__ == "__main__":
    sys.exit(main())
