"""keras_hub vision backbones and tasks, checked as ``bench/zoo_keras.py`` checks the Keras
Applications, without timing: summarised, params against ``count_params()`` (or the weights
the graph uses, the rest named in a note), 0 uncounted layers, conv/linear/matmul MACs within
0.5% of ``FlopCounterMode`` / 2 on a real forward.

Another family of Keras model code than ``keras.applications``: transformer blocks written as
custom layers (ViT, DeiT, DINOv2/v3, Swin, MiT, ViTDet), feature pyramids and segmentation
heads on top of backbones. Each model is built from a configuration written here after its
smallest published preset, with random weights (presets would download), at 224x224 (Xception
at 299, ViTDet at 256).

    KERAS_BACKEND=torch .venv/bin/python bench/zoo_keras_hub.py [--models vit,swin] [--markdown FILE]

Needs ``keras_hub`` (a model-definition package for this bench only, never a dependency of
stridescope: ``.venv/bin/pip install keras-hub``; the tokenizer packages it imports come with
it). Exit 1 if a model misses.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "torch")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from zoo import report_goals
from zoo_keras import markdown, measure_model, missed_goals

IMAGE = (224, 224, 3)


def _resnet(block: str, blocks: list[int], pre: bool = False) -> Any:
    import keras_hub

    return keras_hub.models.ResNetBackbone(
        input_conv_filters=[64],
        input_conv_kernel_sizes=[7],
        stackwise_num_filters=[64, 128, 256, 512],
        stackwise_num_blocks=blocks,
        stackwise_num_strides=[1, 2, 2, 2],
        block_type=block,
        use_pre_activation=pre,
        image_shape=IMAGE,
    )


def _mit() -> Any:
    import keras_hub

    return keras_hub.models.MiTBackbone(
        layerwise_depths=[2, 2, 2, 2],
        num_layers=4,
        layerwise_num_heads=[1, 2, 5, 8],
        layerwise_sr_ratios=[8, 4, 2, 1],
        max_drop_path_rate=0.1,
        layerwise_patch_sizes=[7, 3, 3, 3],
        layerwise_strides=[4, 2, 2, 2],
        hidden_dims=[32, 64, 160, 256],
        image_shape=IMAGE,
    )


def _dinov2(**more: Any) -> Any:
    import keras_hub

    return keras_hub.models.DINOV2Backbone(
        patch_size=14,
        num_layers=4,
        hidden_dim=192,
        num_heads=3,
        intermediate_dim=768,
        image_shape=IMAGE,
        **more,
    )


def _models() -> dict[str, Callable[[], Any]]:
    """Name -> a zero-argument builder."""
    import keras_hub

    m = keras_hub.models
    vit = {"patch_size": 16, "num_layers": 4, "num_heads": 3, "hidden_dim": 192}
    return {
        "resnet18": lambda: _resnet("basic_block", [2, 2, 2, 2]),
        "resnet50": lambda: _resnet("bottleneck_block", [3, 4, 6, 3]),
        "resnet18_v2": lambda: _resnet("basic_block", [2, 2, 2, 2], pre=True),
        "resnet18_vd": lambda: m.ResNetBackbone(
            input_conv_filters=[32, 32, 64],
            input_conv_kernel_sizes=[3, 3, 3],
            stackwise_num_filters=[64, 128, 256, 512],
            stackwise_num_blocks=[2, 2, 2, 2],
            stackwise_num_strides=[1, 2, 2, 2],
            block_type="basic_block_vd",
            image_shape=IMAGE,
        ),
        "vit": lambda: m.ViTBackbone(image_shape=IMAGE, mlp_dim=768, **vit),
        "deit": lambda: m.DeiTBackbone(image_shape=IMAGE, intermediate_dim=768, **vit),
        "dinov2": _dinov2,
        "dinov2_registers_swiglu": lambda: _dinov2(num_register_tokens=4, use_swiglu_ffn=True),
        "dinov3": lambda: m.DINOV3Backbone(
            patch_size=16,
            num_layers=4,
            hidden_dim=192,
            num_heads=3,
            intermediate_dim=768,
            image_shape=IMAGE,
        ),
        "densenet121": lambda: m.DenseNetBackbone(
            stackwise_num_repeats=[6, 12, 24, 16], image_shape=IMAGE
        ),
        "vgg11": lambda: m.VGGBackbone(
            stackwise_num_repeats=[1, 1, 2, 2, 2],
            stackwise_num_filters=[64, 128, 256, 512, 512],
            image_shape=IMAGE,
        ),
        "xception": lambda: m.XceptionBackbone(
            stackwise_conv_filters=[
                [32, 64],
                [128, 128],
                [256, 256],
                [728, 728],
                [728, 728, 728],
                [728, 1024],
                [1536, 2048],
            ],
            stackwise_pooling=[False, True, True, True, False, True, False],
            image_shape=(299, 299, 3),
        ),
        "swin": lambda: m.SwinTransformerBackbone(
            image_shape=IMAGE,
            embed_dim=48,
            depths=[2, 2, 2, 2],
            num_heads=[3, 6, 12, 24],
            window_size=7,
        ),
        "mit_b0": _mit,
        "cspdarknet": lambda: m.CSPNetBackbone(
            stem_filters=32,
            stem_kernel_size=3,
            stem_strides=1,
            stackwise_depth=[1, 2, 8, 8, 4],
            stackwise_strides=2,
            stackwise_num_filters=[64, 128, 256, 512, 1024],
            block_type="dark_block",
            stage_type="csp",
            bottle_ratio=[0.5],
            block_ratio=[1.0],
            expand_ratio=[2.0],
            image_shape=IMAGE,
        ),
        "vitdet": lambda: m.ViTDetBackbone(
            hidden_size=96,
            num_layers=4,
            intermediate_dim=384,
            num_heads=3,
            global_attention_layer_indices=[1, 3],
            image_shape=(256, 256, 3),
            patch_size=16,
            window_size=8,
        ),
        "efficientnet_b0": lambda: m.EfficientNetBackbone(
            stackwise_width_coefficients=[1.0] * 7,
            stackwise_depth_coefficients=[1.0] * 7,
            stackwise_kernel_sizes=[3, 3, 5, 3, 5, 5, 3],
            stackwise_num_repeats=[1, 2, 2, 3, 3, 4, 1],
            stackwise_input_filters=[32, 16, 24, 40, 80, 112, 192],
            stackwise_output_filters=[16, 24, 40, 80, 112, 192, 320],
            stackwise_expansion_ratios=[1, 6, 6, 6, 6, 6, 6],
            stackwise_squeeze_and_excite_ratios=[0.25] * 7,
            stackwise_strides=[1, 2, 2, 2, 1, 2, 1],
            stackwise_block_types=["v1"] * 7,
            input_shape=IMAGE,
        ),
        "mobilenetv3_small": lambda: m.MobileNetBackbone(
            stackwise_expansion=[[40, 56], [64, 144, 144], [72, 72], [144, 288, 288]],
            stackwise_num_blocks=[2, 3, 2, 3],
            stackwise_num_filters=[[16, 16], [24, 24, 24], [48, 48], [96, 96, 96]],
            stackwise_kernel_size=[[3, 3], [5, 5, 5], [5, 5], [5, 5, 5]],
            stackwise_num_strides=[[2, 1], [2, 1, 1], [1, 1], [2, 1, 1]],
            stackwise_se_ratio=[[None, None], [0.25] * 3, [0.25] * 2, [0.25] * 3],
            stackwise_activation=[
                ["relu"] * 2,
                ["hard_swish"] * 3,
                ["hard_swish"] * 2,
                ["hard_swish"] * 3,
            ],
            stackwise_padding=[[1, 1], [2, 2, 2], [2, 2], [2, 2, 2]],
            output_num_filters=288,
            depthwise_filters=16,
            depthwise_stride=2,
            depthwise_residual=False,
            last_layer_filter=288,
            squeeze_and_excite=0.5,
            image_shape=IMAGE,
        ),
        "segformer_b0": lambda: m.SegFormerImageSegmenter(
            backbone=m.SegFormerBackbone(image_encoder=_mit(), projection_filters=256),
            num_classes=4,
        ),
        "retinanet_fpn": lambda: m.RetinaNetBackbone(
            image_encoder=_resnet("basic_block", [2, 2, 2, 2]),
            min_level=3,
            max_level=7,
            use_p5=False,
            image_shape=IMAGE,
        ),
        "depth_anything": lambda: m.DepthAnythingBackbone(
            image_encoder=_dinov2(),
            reassemble_factors=[4, 2, 1, 0.5],
            neck_hidden_dims=[48, 96, 192, 384],
            fusion_hidden_dim=64,
            head_hidden_dim=32,
            head_in_index=-1,
            feature_keys=["stage1", "stage2", "stage3", "stage4"],
        ),
        "resnet18_classifier": lambda: m.ResNetImageClassifier(
            backbone=_resnet("basic_block", [2, 2, 2, 2]), num_classes=10
        ),
        "vit_classifier": lambda: m.ViTImageClassifier(
            backbone=m.ViTBackbone(image_shape=IMAGE, mlp_dim=768, **vit), num_classes=10
        ),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", help="comma-separated names (default: all)")
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    args = parser.parse_args()
    if importlib.util.find_spec("keras_hub") is None:
        print("not installed: keras_hub; see the docstring")
        return 2
    import keras
    import torch

    torch.set_num_threads(1)
    models = _models()
    chosen = args.models.split(",") if args.models else list(models)
    unknown = sorted(set(chosen) - set(models))
    if unknown:
        print(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(models)}")
        return 2
    rows = []
    for name in chosen:
        start = time.perf_counter()
        rows.append(measure_model(name, models[name](), None, repeats=0))
        keras.backend.clear_session()
        print(f"  {name:<26} {time.perf_counter() - start:6.1f} s", file=sys.stderr)
    table = markdown(rows, timing=False, what="model")
    print(table)
    if args.markdown:
        args.markdown.write_text(table, encoding="utf-8")
    return report_goals(missed_goals(rows), goals="correctness goals")


if __name__ == "__main__":
    sys.exit(main())
