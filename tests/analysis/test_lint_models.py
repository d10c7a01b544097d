"""`stridescope.lint` on the models of the issue's acceptance list: ResNet-50 v1 / v1.5 /
ResNet-D, the seed CNN in all three frontends, a 224-px stem without padding, and the CIFAR
ResNet option-A shortcut. DS401 is measured in tests/analysis/test_lint_aliasing.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import stridescope
from stridescope.analysis.lint import LintReport
from tests.frontends.pytorch.resnet_models import resnet50, seed_cnn

ROOT = Path(__file__).resolve().parents[2]

NO_ALIASING = "DS4"  # measured elsewhere; these tests stay geometry-only


def _codes(report: LintReport, code: str) -> list[str | None]:
    return [f.layer for f in report.findings if f.code == code]


def resnet_d() -> nn.Module:
    """ResNet-50 v1.5 with ResNet-D shortcuts: where a stage halves the map, a 2x2 average
    pool (stride 2, ceil mode, padding not counted) then the 1x1 conv at stride 1."""
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


def test_resnet50_v1_has_six_skipping_layers() -> None:
    report = stridescope.lint(resnet50(stride_in_1x1=True, device="meta"), (1, 3, 224, 224))
    skipping = [f for f in report.findings if f.code == "DS101"]
    expected = [f"layer{i}.0.{part}" for i in (2, 3, 4) for part in ("conv1", "downsample.0")]
    assert sorted(f.layer for f in skipping if f.layer) == sorted(expected)
    assert {f.evidence["read_fraction"] for f in skipping} == {0.25}
    assert all(f.severity == "warning" and f.policy == "resnet-d" for f in skipping)
    # the block before each stage reads 25% of its output: 3/4 of its last 3x3, 1x1 and add
    first = skipping[0].evidence
    assert [p["layer"] for p in first["producers"]] == [
        "layer1.2.add",
        "layer1.2.conv3",
        "layer1.2.conv2",
    ]
    conv3_macs = 56 * 56 * 256 * 64
    assert first["producers"][1]["wasted_macs"] == conv3_macs * 3 // 4
    assert not _codes(report, "DS202") and not _codes(report, "DS301")


def test_resnet50_v15_skips_only_in_the_shortcuts() -> None:
    report = stridescope.lint(resnet50(device="meta"), (1, 3, 224, 224), ignore=NO_ALIASING)
    assert _codes(report, "DS101") == [f"layer{i}.0.downsample.0" for i in (2, 3, 4)]
    # the 3x3 main path reads every position, so the shortcut wastes nothing
    assert all(f.evidence["wasted_macs"] == 0 for f in report.findings if f.code == "DS101")
    assert report.counts == {"error": 0, "warning": 3, "info": 0}


def test_resnet_d_merges_are_half_a_pixel_apart() -> None:
    report = stridescope.lint(resnet_d(), (1, 3, 224, 224), ignore=NO_ALIASING)
    assert not _codes(report, "DS101")
    merges = [f for f in report.findings if f.code == "DS301"]
    assert [f.layer for f in merges] == [f"layer{i}.0.add" for i in (2, 3, 4)]
    for finding, split, jump in zip(
        merges, ("layer1.2", "layer2.3", "layer3.5"), (4, 8, 16), strict=True
    ):
        ev = finding.evidence
        assert ev["split"] == f"{split}.relu_2"
        assert ev["misalignment"] == [0.5, 0.5]  # pixels of the block's input
        assert ev["misalignment_input"] == [0.5 * jump, 0.5 * jump]
        assert ev["same_jump"]
        offsets = sorted(tuple(b["offset"]) for b in ev["branches"])
        assert offsets == [(0.0, 0.0), (0.5, 0.5)]
        assert all(b["jump"] == [2.0, 2.0] for b in ev["branches"])
        assert finding.severity == "info" and finding.policy is None


class GatedResNetD(nn.Module):
    """A ResNet-D block whose main path a squeeze-and-excitation gate scales, then a 1x1 conv
    (RegNetY's)."""

    def __init__(self, gate: bool, channels: int) -> None:
        super().__init__()
        self.gate = gate
        self.main = nn.Conv2d(channels, 2 * channels, 3, stride=2, padding=1)
        self.fc = nn.Conv2d(2 * channels, 2 * channels, 1)
        self.project = nn.Conv2d(2 * channels, 2 * channels, 1)
        self.pool = nn.AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False)
        self.short = nn.Conv2d(channels, 2 * channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.main(x)
        if self.gate:
            y = torch.relu(y * torch.sigmoid(self.fc(y.mean((2, 3), keepdim=True))))
        return self.project(y) + self.short(self.pool(x))


@pytest.mark.parametrize("gate", [False, True])
def test_a_gate_of_the_whole_input_keeps_the_grid_it_scales(gate: bool) -> None:
    """The gate makes every output position depend on the whole input, but the positions
    are still the main path's: the half-pixel offset against the shortcut is found, in each
    of two blocks (the second after the first's merged grid)."""
    model = nn.Sequential(GatedResNetD(gate, 8), GatedResNetD(gate, 16))
    report = stridescope.lint(model, (1, 8, 32, 32), ignore=NO_ALIASING)
    merges = [f for f in report.findings if f.code == "DS301"]
    assert [f.layer for f in merges] == ["0.add", "1.add"]
    assert all(f.evidence["misalignment"] == [0.5, 0.5] for f in merges)


@pytest.mark.parametrize(
    ("target", "shape", "layer", "producer"),
    [
        ("examples/seed_cnn.toml", None, "conv2d_2", "conv2d_1"),
        ("examples/seed_cnn_keras.py:build", None, "conv2d_2", "conv2d_1"),
        ("torch", (1, 3, 32, 32), "5", "3"),
    ],
    ids=["spec", "keras", "pytorch"],
)
def test_seed_cnn_one_skipping_layer(
    target: str, shape: tuple[int, ...] | None, layer: str, producer: str
) -> None:
    model: object = seed_cnn() if target == "torch" else str(ROOT / target)
    report = stridescope.lint(model, shape, ignore=NO_ALIASING)
    (finding,) = report.findings
    assert (finding.code, finding.layer, finding.severity) == ("DS101", layer, "warning")
    assert finding.evidence["read_fraction"] == pytest.approx(49 / 169)
    assert "reads 29% of its input" in finding.message
    (source,) = finding.evidence["producers"]  # 13x13 computed, 7x7 read
    assert (source["layer"], source["positions"], source["read_positions"]) == (producer, 169, 49)
    assert source["wasted_macs"] == 3_115_008 * 120 // 169 == finding.evidence["wasted_macs"]
    assert report.input_coverage == 1.0


class UnpaddedStem(nn.Module):
    """A 3x3 stride-2 stem without padding on 224 px: the last row and column are never read."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, 4, 3, stride=2)
        self.body = nn.Conv2d(4, 4, 3, stride=2, padding=1)
        self.head = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.body(torch.relu(self.stem(x))))  # (N, 4, 56, 56)
        return self.head(x.mean(dim=(2, 3)))


def test_unpadded_stem_drops_the_last_row_and_column() -> None:
    model = UnpaddedStem()
    report = stridescope.lint(model, (1, 1, 224, 224), ignore=NO_ALIASING)
    (border,) = [f for f in report.findings if f.code == "DS201"]
    assert border.layer == "stem"
    assert border.evidence["unread"] == [
        {"axis": 0, "before": [], "after": [223]},
        {"axis": 1, "before": [], "after": [223]},
    ]
    assert "the last row and the last column of its 224x224 input" in border.message
    (unread,) = [f for f in report.findings if f.code == "DS202"]
    assert unread.layer is None and unread.severity == "warning"
    assert unread.evidence["unread_lines"] == [[223], [223]]
    assert unread.evidence["responsible"] == [{"layer": "stem", "codes": ["DS201"]}]
    assert unread.policy == "blurpool"
    # autograd: one backward with positive weights and inputs, nothing cancels
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.rand_like(p) + 0.5)
    x = (torch.rand(1, 1, 224, 224) + 0.5).requires_grad_(True)
    model(x).sum().backward()
    assert x.grad is not None
    reference = float((x.grad[0, 0] != 0).double().mean())
    assert reference == pytest.approx(223**2 / 224**2, abs=1e-12)
    assert unread.evidence["input_coverage"] == pytest.approx(reference, abs=1e-9)
    assert report.input_coverage == pytest.approx(reference, abs=1e-9)
    assert unread.evidence["unread_positions"] == int(np.sum(x.grad[0, 0].numpy() == 0))


def test_resnet20_option_a_shortcut_skips_input() -> None:
    report = stridescope.lint(
        str(ROOT / "examples/resnet20_option_a.py:resnet20"), (1, 3, 32, 32), ignore=NO_ALIASING
    )
    skipping = [f for f in report.findings if f.code == "DS101"]
    assert [f.layer for f in skipping] == ["blocks.3.getitem", "blocks.6.getitem"]
    assert all(f.evidence["read_fraction"] == 0.25 and f.policy is None for f in skipping)
    assert not _codes(report, "DS301")  # the slice samples the 3x3 stride-2 conv's grid


class CalledTwice(nn.Module):
    """One strided depthwise conv called twice (its weights counted once), then a max pool."""

    def __init__(self) -> None:
        super().__init__()
        self.c = nn.Conv2d(4, 4, 3, stride=2, padding=1, groups=4, bias=False)
        self.pool = nn.MaxPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.c(self.c(x)))


def test_a_layer_called_again_is_not_a_filter_without_weights() -> None:
    """Its second node counts no weights but names the layer whose they are: lint does not
    take it for a blur (it aliases as the first call does); fix changes it with the layer, or
    says why it leaves it."""
    from stridescope.frontends import load_graph

    model = CalledTwice()
    graph = load_graph(model, (1, 4, 32, 32))
    assert [(n.name, n.params, n.shares) for n in graph.nodes[1:3]] == [
        ("c", 36, ""),
        ("c_1", 0, "c"),
    ]
    report = stridescope.lint(model, (1, 4, 32, 32), select=["DS401"])
    assert _codes(report, "DS401") == ["c", "c_1", "pool"]
    fixed = stridescope.fix(model, "blurpool", input_shape=(1, 4, 32, 32))
    changed = {c.layer: c for c in fixed.changes}  # the module swapped: both calls change
    assert changed["c_1"].delta_params == 0 and changed["c_1"].after == changed["c"].after
    before = stridescope.summary(model, (1, 4, 32, 32)).totals.macs
    assert fixed.delta_macs == stridescope.summary(fixed.model, (1, 4, 32, 32)).totals.macs - before
    kept = stridescope.fix(model, "resnet-d", input_shape=(1, 4, 32, 32))
    reasons = {u.layer: u.reason for u in kept.unchanged}
    assert reasons["c_1"].startswith("the layer 'c' called again")
