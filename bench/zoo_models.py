"""Public model definitions for the zoo benchmark: torchvision and timm, random weights.

torchvision and timm are *model definitions* here, never dependencies of stridescope. The
packages on this machine's registry are CUDA builds whose compiled ops do not load against the
CPU torch; their model code is pure Python and imports once ``torchvision._meta_registrations``
is an empty module (done here, in the bench only). Install them for the bench with::

    .venv/bin/pip install --no-deps torchvision==0.28.0 timm

Each entry: (family, name in the table, builder, input shape). Inputs are the size each model
was designed for; a model that fixes its input size (ViT, Swin, MaxViT, LeViT, Mixer) gets it.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from dataclasses import dataclass

from torch import nn

__all__ = ["ZOO", "ZooModel", "import_stubbed_torchvision", "missing_packages"]


@dataclass(frozen=True)
class ZooModel:
    family: str
    name: str
    source: str  # "torchvision" or "timm"
    arch: str  # the name the source's factory takes
    input_shape: tuple[int, ...] = (1, 3, 224, 224)

    def build(self) -> nn.Module:
        """The model with random weights, in eval mode."""
        import_stubbed_torchvision()
        if self.source == "torchvision":
            import torchvision

            model = torchvision.models.get_model(self.arch, weights=None)
        else:
            import timm

            model = timm.create_model(self.arch, pretrained=False)
        return model.eval()


def import_stubbed_torchvision() -> None:
    """Import torchvision's pure-Python model code without its compiled ops."""
    if "torchvision" not in sys.modules:
        sys.modules.setdefault(
            "torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations")
        )
        import torchvision  # noqa: F401


def missing_packages() -> list[str]:
    """The model-definition packages this bench needs that are not installed."""
    return [name for name in ("torchvision", "timm") if importlib.util.find_spec(name) is None]


def _tv(family: str, arch: str, size: int = 224) -> ZooModel:
    return ZooModel(family, arch, "torchvision", arch, (1, 3, size, size))


def _timm(family: str, arch: str, size: int = 224) -> ZooModel:
    return ZooModel(family, arch, "timm", arch, (1, 3, size, size))


ZOO: tuple[ZooModel, ...] = (
    _tv("ResNet", "resnet50"),
    _timm("ResNet-D", "resnet50d"),
    _tv("ResNeXt", "resnext50_32x4d"),
    _timm("Res2Net", "res2net50_26w_4s"),
    _tv("DenseNet", "densenet121"),
    _tv("MobileNetV2", "mobilenet_v2"),
    _tv("MobileNetV3", "mobilenet_v3_large"),
    _tv("EfficientNet", "efficientnet_b0"),
    _tv("EfficientNetV2", "efficientnet_v2_s", 384),
    _tv("MnasNet", "mnasnet1_0"),
    _timm("GhostNet", "ghostnet_100"),
    _tv("ShuffleNetV2", "shufflenet_v2_x1_0"),
    _tv("RegNet", "regnet_y_400mf"),
    _tv("ConvNeXt", "convnext_tiny"),
    _tv("Inception", "inception_v3", 299),
    _tv("GoogLeNet", "googlenet"),
    _timm("Xception", "xception41", 299),
    _tv("SqueezeNet", "squeezenet1_1"),
    _tv("VGG", "vgg11_bn"),
    _tv("AlexNet", "alexnet"),
    _timm("HRNet", "hrnet_w18_small"),
    _timm("DLA", "dla34"),
    _timm("CSPNet", "cspresnet50"),
    _tv("ViT", "vit_b_16"),
    _timm("DeiT", "deit_tiny_patch16_224"),
    _tv("Swin", "swin_t"),
    _tv("MaxViT", "maxvit_t"),
    _timm("LeViT", "levit_128s"),
    _timm("MLP-Mixer", "mixer_b16_224"),
    _timm("PoolFormer", "poolformer_s12"),
    _timm("NFNet", "dm_nfnet_f0", 192),
    _timm("TResNet", "tresnet_m"),
    _timm("RepVGG", "repvgg_a0"),
    _timm("MobileViT", "mobilevit_xxs", 256),
    _timm("EdgeNeXt", "edgenext_xx_small", 256),
    _timm("PVTv2", "pvt_v2_b0"),
    _timm("RexNet", "rexnet_100"),
    _timm("VoVNet", "ese_vovnet19b_dw"),
    _timm("LCNet", "lcnet_050"),
    _timm("CoAtNet", "coatnet_0_rw_224"),
    _tv("Swin V2", "swin_v2_t", 256),
    _timm("TNT", "tnt_s_patch16_224"),
    _timm("GCViT", "gcvit_xxtiny"),
    _timm("ResMLP", "resmlp_12_224"),
    _timm("XCiT", "xcit_tiny_12_p16_224"),
    _timm("ConvNeXt V2", "convnextv2_atto"),
)
