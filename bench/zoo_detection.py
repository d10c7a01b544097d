"""torchvision's detection models, traced end to end: each built with random weights (no
download, ``weights=None, weights_backbone=None``) and summarised on one ``(3, 320, 320)``
image given as a list, as their forward takes it.

Per model, one row: parameters against ``sum(p.numel())``, uncounted ops, conv/linear/matmul
MACs against ``FlopCounterMode`` ÷ 2 of one real forward on a random image (ours are an
upper bound where the boxes kept are data: every box kept; equal where the real forward's
proposals fill the post-NMS limit), whether the receptive fields are known through the
backbone (no "unknown" note), and the time of the summary. Mask and Keypoint R-CNN read
values in their post-processing (a pasted mask sized by a box's coordinates, keypoints read
with ``.item()``), which a trace refuses: they are summarised with ``partial=True`` up to
there (every parameter used by then), their MACs an upper bound of the real forward's
(``partial`` in the row: every detection's mask or keypoint head counted, where random
weights detect few or none). Exit 1 if a model misses a goal.

    .venv/bin/python bench/zoo_detection.py [--models retinanet_resnet50_fpn,...]

Needs torchvision as ``bench/zoo.py`` says (``--no-deps``, imported with its compiled-ops
stub). The compiled ``nms`` and ``roi_align`` do not load against this torch, so where they
are missing this script defines them (``torch.library``, same names and schemas, plain torch
bodies: a greedy NMS, torchvision's Python ``roi_align``) for the real forwards; the summaries
read them by name, as they read the compiled ones.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from zoo import product_macs
from zoo_models import import_stubbed_torchvision

import stridescope
from stridescope.errors import StridescopeError
from stridescope.frontends import load_graph
from stridescope.frontends.pytorch.partial_traces import partial_traces

MODELS = (
    "fasterrcnn_mobilenet_v3_large_320_fpn",
    "fasterrcnn_mobilenet_v3_large_fpn",
    "fasterrcnn_resnet50_fpn",
    "fasterrcnn_resnet50_fpn_v2",
    "retinanet_resnet50_fpn",
    "retinanet_resnet50_fpn_v2",
    "fcos_resnet50_fpn",
    "ssd300_vgg16",
    "ssdlite320_mobilenet_v3_large",
    "maskrcnn_resnet50_fpn",
    "maskrcnn_resnet50_fpn_v2",
    "keypointrcnn_resnet50_fpn",
)
POST_PROCESSING = ("maskrcnn", "keypointrcnn")  # stop where a mask or keypoint is read
SHAPE = (3, 320, 320)


def define_missing_ops() -> None:
    """``torchvision::nms`` and ``torchvision::roi_align`` where the compiled ones are not
    loaded (plain torch bodies, fake kernels as torchvision's), and torchvision told so."""
    import torchvision
    import torchvision.extension

    if hasattr(torch.ops.torchvision, "nms"):
        return
    roi_module = sys.modules["torchvision.ops.roi_align"]

    @torch.library.custom_op("torchvision::nms", mutates_args=())
    def nms(dets: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
        iou = torchvision.ops.box_iou(dets, dets)
        removed = torch.zeros(len(dets), dtype=torch.bool)
        keep = []
        for i in scores.argsort(descending=True).tolist():
            if not removed[i]:
                keep.append(i)
                removed |= iou[i] > iou_threshold
        return torch.tensor(keep, dtype=torch.long)

    @nms.register_fake
    def _(dets: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
        return dets.new_empty(torch.library.get_ctx().new_dynamic_size(), dtype=torch.long)

    @torch.library.custom_op("torchvision::roi_align", mutates_args=())
    def roi_align(
        input: torch.Tensor,
        rois: torch.Tensor,
        spatial_scale: float,
        pooled_height: int,
        pooled_width: int,
        sampling_ratio: int,
        aligned: bool,
    ) -> torch.Tensor:
        python = roi_module._roi_align
        return python(
            input, rois, spatial_scale, pooled_height, pooled_width, sampling_ratio, aligned
        )

    @roi_align.register_fake
    def _(input: torch.Tensor, rois: torch.Tensor, *args: Any) -> torch.Tensor:
        return input.new_empty((rois.shape[0], input.shape[1], args[1], args[2]))

    torchvision.extension._has_ops = lambda: True  # (nms asks it)
    roi_module._has_ops = lambda: True  # (roi_align bound it at import)


def _real_products(model: torch.nn.Module) -> int:
    with (
        torch.no_grad(),
        torch.compiler.set_stance("force_eager"),  # (torchvision compiles its roi_align)
        FlopCounterMode(display=False) as counter,
    ):
        model([torch.rand(SHAPE)])
    return int(counter.get_total_flops()) // 2


def measure(name: str) -> bool:
    """Print one model's row; whether it meets the goals."""
    import torchvision

    torch.manual_seed(0)
    builder = getattr(torchvision.models.detection, name)
    model = builder(weights=None, weights_backbone=None).eval()
    partial = name.startswith(POST_PROCESSING)
    start = time.perf_counter()
    try:
        summary = stridescope.summary(model, [[SHAPE]], partial=partial)
    except StridescopeError as error:
        where = str(error).split(": ", 1)[1]
        print(f"{name:40} refused: {where[:150]}")
        return False
    took = time.perf_counter() - start
    with partial_traces(partial):
        graph = load_graph(model, [[SHAPE]])
    params = sum(p.numel() for p in model.parameters())
    ours, real = product_macs(graph), _real_products(model)
    fields = not any("receptive fields are unknown" in n for n in summary.notes)
    ok = summary.totals.params == params and not summary.totals.uncounted and fields
    stopped = any(n.startswith("partial summary") for n in summary.notes)
    ok = ok and real <= ours and (stopped if partial else ours <= real * 1.01)
    print(
        f"{name:40} {summary.totals.params:>11,} / {params:<11,} "
        f"{len(summary.totals.uncounted):>3} {ours / real:>9.5f} {'known' if fields else '?':>6} "
        f"{took * 1000:>8.0f} {'ok' if ok else 'MISSED'}{' (partial)' if stopped else ''}"
    )
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", help="comma-separated names (default: all 12)")
    args = parser.parse_args()
    names = args.models.split(",") if args.models else list(MODELS)
    warnings.simplefilter("ignore")
    import_stubbed_torchvision()
    define_missing_ops()
    print(
        f"{'model':40} {'params (ours / torch)':>25} {'unc':>3} {'MACs/real':>9} {'fields':>6} {'ms':>8}"
    )
    missed = [name for name in names if not measure(name)]
    print(f"missed: {', '.join(missed) or 'none'}")
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
