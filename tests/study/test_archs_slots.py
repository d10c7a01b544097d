"""Architectures: shapes for every operator, slot placement, and identical non-slot init."""

from __future__ import annotations

import pytest
import torch

from stridescope.errors import StridescopeError, UnknownNameError
from stridescope.ops import op_names
from stridescope.study.archs import PRESETS, ArchInput, arch_names, build_model


def _non_slot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v for k, v in model.state_dict().items() if "slot" not in k}


@pytest.mark.parametrize("arch", arch_names())
@pytest.mark.parametrize("op", op_names())
def test_every_op_fits_every_arch(arch: str, op: str) -> None:
    model = build_model(ArchInput(op, (1, 12, 12), 7, seed=0), arch)
    assert tuple(model(torch.randn(2, 1, 12, 12)).shape) == (2, 7)
    assert any(name.startswith("slot") or ".slot" in name for name, _ in model.named_modules())


@pytest.mark.parametrize(
    ("arch", "preset", "slot"),
    [("seed-cnn", "v1", "both"), ("resnet-mini", "v1", "both"), ("resnet-mini", "d", "main")],
)
def test_layers_outside_the_slot_start_equal_whatever_the_op(
    arch: str, preset: str, slot: str
) -> None:
    a = build_model(ArchInput("conv1x1_s2", (1, 28, 28), 10, 3, preset, slot), arch)
    b = build_model(ArchInput("maxpool_conv1x1", (1, 28, 28), 10, 3, preset, slot), arch)
    c = build_model(ArchInput("maxpool_conv1x1", (1, 28, 28), 10, 4, preset, slot), arch)
    sa, sb, sc = _non_slot(a), _non_slot(b), _non_slot(c)
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    # a different seed does change them (the check above can fail)
    assert not all(torch.equal(sb[k], sc[k]) for k in sb)


def test_same_op_same_seed_same_slot_weights() -> None:
    a = build_model(ArchInput("conv3x3_s2", (1, 28, 28), 10, 1), "seed-cnn")
    b = build_model(ArchInput("conv3x3_s2", (1, 28, 28), 10, 1), "seed-cnn")
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters(), strict=True))


def test_building_a_model_leaves_the_global_rng_alone() -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    build_model(ArchInput("conv1x1_s2", (1, 28, 28), 10, 0), "seed-cnn")
    assert torch.equal(torch.rand(3), expected)


def test_seed_cnn_matches_the_seed_network_shapes() -> None:
    # the seed's Keras CNN on 32x32x3 has 3136 features before the dense layer
    model = build_model(ArchInput("conv1x1_s2", (3, 32, 32), 10, 0), "seed-cnn")
    assert model.dense.in_features == 3136


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_resnet_presets_use_their_default_ops_outside_the_studied_slot(preset: str) -> None:
    main_default, short_default = PRESETS[preset]
    model = build_model(
        ArchInput("blurpool_conv1x1", (1, 16, 16), 10, 0, preset, "shortcut"), "resnet-mini"
    )
    block = model.stages[1]
    ref_main = build_model(
        ArchInput(main_default, (1, 16, 16), 10, 0, preset, "both"), "resnet-mini"
    )
    assert repr(block.slot_main) == repr(ref_main.stages[1].slot_main)
    studied = build_model(
        ArchInput("blurpool_conv1x1", (1, 16, 16), 10, 0, preset, "both"), "resnet-mini"
    )
    assert repr(block.slot_shortcut) == repr(studied.stages[1].slot_shortcut)
    main_model = build_model(
        ArchInput("blurpool_conv1x1", (1, 16, 16), 10, 0, preset, "main"), "resnet-mini"
    )
    default_short = build_model(
        ArchInput(short_default, (1, 16, 16), 10, 0, preset, "both"), "resnet-mini"
    )
    assert repr(main_model.stages[1].slot_shortcut) == repr(default_short.stages[1].slot_shortcut)
    assert tuple(model(torch.randn(2, 1, 16, 16)).shape) == (2, 10)


def test_unknown_names_list_the_known_ones() -> None:
    with pytest.raises(UnknownNameError, match="known: seed-cnn, resnet-mini"):
        build_model(ArchInput("conv1x1_s2", (1, 8, 8), 10, 0), "vgg")
    with pytest.raises(UnknownNameError, match="known: v1, b, d"):
        build_model(ArchInput("conv1x1_s2", (1, 8, 8), 10, 0, preset="c"), "resnet-mini")
    with pytest.raises(StridescopeError, match="at least 2x2"):
        build_model(ArchInput("conv1x1_s2", (1, 1, 1), 10, 0), "seed-cnn")
