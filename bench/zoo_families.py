"""Every timm family: the smallest model of each timm module (random weights), checked as
``bench/zoo.py`` checks its zoo, without timing: traced, parameters against torch's count,
0 uncounted ops, conv/linear/matmul MACs within 0.5% of ``FlopCounterMode`` / 2.

The zoo holds 46 chosen models; this reaches every family timm defines (one model each: the
one with the fewest parameters, under ``--max-params`` and an input side of at most 512, at
its own input size), so a new pattern in a family the zoo does not hold shows up here.

    .venv/bin/python bench/zoo_families.py [--modules vision_transformer,levit]
                                           [--max-params 60e6] [--markdown FILE]

Needs timm and torchvision installed as ``bench/zoo.py`` says. Exit 1 if a model misses.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from zoo import check_correctness
from zoo_models import ZooModel, import_stubbed_torchvision, missing_packages

MAX_SIDE = 512


def smallest(module: str, max_params: float) -> ZooModel | None:
    """The timm model of ``module`` with the fewest parameters (counted on the meta
    device, no weights made) under ``max_params`` and ``MAX_SIDE``; ``None`` if none."""
    import timm

    best: tuple[int, str, tuple[int, ...]] | None = None
    for arch in timm.list_models(module=module):
        try:
            with torch.device("meta"), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = timm.create_model(arch, pretrained=False)
        except Exception:  # a model that cannot be built here (an optional package): skipped
            continue
        params = sum(p.numel() for p in model.parameters())
        size = tuple(model.pretrained_cfg.get("input_size", (3, 224, 224)))
        if params <= max_params and max(size) <= MAX_SIDE and (best is None or params < best[0]):
            best = (params, arch, size)
    if best is None:
        return None
    return ZooModel(module, best[1], "timm", best[1], (1, *best[2]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modules", help="comma-separated timm modules (default: all)")
    parser.add_argument("--max-params", type=float, default=60e6)
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    args = parser.parse_args()
    if missing_packages():
        print(f"not installed: {', '.join(missing_packages())}; see bench/zoo.py")
        return 2
    import_stubbed_torchvision()
    import timm

    torch.set_num_threads(1)
    modules = args.modules.split(",") if args.modules else sorted(timm.list_modules())
    return check_correctness(_entries(modules, args.max_params), args.markdown)


def _entries(modules: list[str], max_params: float) -> Iterator[ZooModel]:
    for module in modules:
        entry = smallest(module, max_params)
        if entry is None:
            print(f"  {module:<28} no model under the limits", file=sys.stderr)
        else:
            yield entry


if __name__ == "__main__":
    sys.exit(main())
