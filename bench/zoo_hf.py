"""Hugging Face ``transformers`` vision models, checked as ``bench/zoo.py`` checks its zoo,
without timing: traced, parameters against torch's count, 0 uncounted ops, conv/linear/matmul
MACs within 0.5% of ``FlopCounterMode`` / 2.

Another family of model code than timm's and torchvision's (attention written with masks and
``ModelOutput`` results, hidden states collected by forward hooks, detection decoders): each
model is built from its default configuration (``AutoConfig.for_model``, random weights, no
download) and run at 224x224 (``vitpose`` at its 256x192).

    .venv/bin/python bench/zoo_hf.py [--models vit,dpt] [--markdown FILE]

Needs ``transformers`` (``.venv/bin/pip install transformers``: a model-definition package for
this bench only, never a dependency of stridescope) and torchvision as ``bench/zoo.py`` says
(``transformers`` imports it when installed). Exit 1 if a model misses.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from zoo import check_correctness
from zoo_models import ZooModel, import_stubbed_torchvision

# (model type, class): every vision family of transformers 5 that takes pixel values alone
MODELS = [
    ("vit", "ViTForImageClassification"),
    ("deit", "DeiTForImageClassification"),
    ("beit", "BeitForImageClassification"),
    ("data2vec-vision", "Data2VecVisionForImageClassification"),
    ("dinov2", "Dinov2ForImageClassification"),
    ("dinov2_with_registers", "Dinov2WithRegistersForImageClassification"),
    ("ijepa", "IJepaForImageClassification"),
    ("vit_msn", "ViTMSNForImageClassification"),
    ("vit_mae", "ViTMAEModel"),
    ("clip_vision_model", "CLIPVisionModel"),
    ("siglip_vision_model", "SiglipVisionModel"),
    ("aimv2_vision_model", "Aimv2VisionModel"),
    ("pixtral", "PixtralVisionModel"),
    ("swin", "SwinForImageClassification"),
    ("swinv2", "Swinv2ForImageClassification"),
    ("hiera", "HieraForImageClassification"),
    ("focalnet", "FocalNetForImageClassification"),
    ("cvt", "CvtForImageClassification"),
    ("pvt", "PvtForImageClassification"),
    ("pvt_v2", "PvtV2ForImageClassification"),
    ("segformer", "SegformerForSemanticSegmentation"),
    ("levit", "LevitForImageClassification"),
    ("mobilevit", "MobileViTForImageClassification"),
    ("mobilevitv2", "MobileViTV2ForImageClassification"),
    ("swiftformer", "SwiftFormerForImageClassification"),
    ("poolformer", "PoolFormerForImageClassification"),
    ("convnext", "ConvNextForImageClassification"),
    ("convnextv2", "ConvNextV2ForImageClassification"),
    ("resnet", "ResNetForImageClassification"),
    ("regnet", "RegNetForImageClassification"),
    ("bit", "BitForImageClassification"),
    ("efficientnet", "EfficientNetForImageClassification"),
    ("mobilenet_v1", "MobileNetV1ForImageClassification"),
    ("mobilenet_v2", "MobileNetV2ForImageClassification"),
    ("textnet", "TextNetForImageClassification"),
    ("upernet", "UperNetForSemanticSegmentation"),
    ("dpt", "DPTForDepthEstimation"),
    ("depth_anything", "DepthAnythingForDepthEstimation"),
    ("glpn", "GLPNForDepthEstimation"),
    ("zoedepth", "ZoeDepthForDepthEstimation"),
    ("vitdet", "VitDetModel"),
    ("vitpose", "VitPoseForPoseEstimation"),
    ("detr", "DetrForObjectDetection"),
    ("conditional_detr", "ConditionalDetrForObjectDetection"),
    ("rt_detr", "RTDetrForObjectDetection"),
    ("d_fine", "DFineForObjectDetection"),
    ("yolos", "YolosForObjectDetection"),
    ("maskformer", "MaskFormerForInstanceSegmentation"),
    ("mask2former", "Mask2FormerForUniversalSegmentation"),
]
SIZES = {"vitpose": (256, 192)}


class HFModel(ZooModel):
    """A zoo entry whose model is a ``transformers`` class (``arch``) built from the default
    configuration of its model type (``family``)."""

    def build(self) -> nn.Module:
        import transformers

        config = transformers.AutoConfig.for_model(self.family)
        model: nn.Module = getattr(transformers, self.arch)(config)
        return model.eval()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", help="comma-separated model types (default: all)")
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    args = parser.parse_args()
    missing = [p for p in ("transformers", "torchvision") if importlib.util.find_spec(p) is None]
    if missing:
        print(f"not installed: {', '.join(missing)}; see the docstring")
        return 2
    import_stubbed_torchvision()
    import transformers

    transformers.logging.set_verbosity_error()
    torch.set_num_threads(1)
    wanted = set(args.models.split(",")) if args.models else None
    entries = [
        HFModel(family, family, "transformers", arch, (1, 3, *SIZES.get(family, (224, 224))))
        for family, arch in MODELS
        if wanted is None or family in wanted
    ]
    return check_correctness(entries, args.markdown)


if __name__ == "__main__":
    sys.exit(main())
