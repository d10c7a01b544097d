"""DS401: which strided ops have no low-pass before them, and their measured aliasing share,
which must be ``compare``'s metric on ``compare``'s photos, cached per configuration in
memory and on disk, with a broken cache never breaking lint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import stridescope
from stridescope.analysis import lint_aliasing
from stridescope.analysis.images import load_images
from stridescope.analysis.lint import LintOptions, lint_graph
from stridescope.analysis.lint_aliasing import AliasConfig, aliasing_shares, cache_path
from stridescope.analysis.signal import aliasing_share
from stridescope.ir import Graph, GraphBuilder
from stridescope.ops import create_op

ROOT = Path(__file__).resolve().parents[2]
ONE_BY_ONE = AliasConfig("conv", (1, 1), (2, 2), (1, 1), ((0, 0), (0, 0)))


def _photos() -> torch.Tensor:
    return load_images((3, 66, 66), 4)[:, :, :-2, :-2]  # what compare measures at 3x64x64


def _share_of(op: nn.Module) -> float:
    return aliasing_share(op.eval(), _photos())


def test_seed_cnn_evidence_is_compares_metric() -> None:
    report = stridescope.lint(str(ROOT / "examples/seed_cnn.toml"), select="DS4")
    found = {f.layer: f for f in report.findings}
    assert sorted(found) == ["conv2d_2", "max_pooling2d"]
    torch.manual_seed(0)
    reference = _share_of(create_op("conv1x1_s2", 3, 16))  # compare's conv1x1_s2, seed 0
    assert found["conv2d_2"].evidence["aliasing"] == pytest.approx(reference, rel=1e-6)
    assert found["max_pooling2d"].evidence["aliasing"] == pytest.approx(
        _share_of(nn.MaxPool2d(2)), rel=1e-6
    )
    assert found["conv2d_2"].evidence["configuration"]["kind"] == "conv"
    assert f"{reference:.4f} of its output energy is aliased" in found["conv2d_2"].message
    assert all(f.severity == "info" for f in found.values())
    # a 1x1 conv: the blur at the stride then the 1x1 (the same function, a quarter of the MACs)
    assert (found["max_pooling2d"].policy, found["conv2d_2"].policy) == (
        "blurpool",
        "blurpool-first",
    )


def test_strided_3x3_is_compares_conv3x3_s2() -> None:
    b = GraphBuilder((1, 3, 32, 32), "nchw")
    b.conv(b.input, "down", out_channels=8, kernel=3, stride=2, padding=1)
    (finding,) = lint_graph(b.build(), LintOptions(select=("DS401",))).findings
    torch.manual_seed(0)
    reference = _share_of(create_op("conv3x3_s2", 3, 16))
    assert finding.evidence["aliasing"] == pytest.approx(reference, rel=1e-6)


def test_strided_slice_is_measured_as_a_slice() -> None:
    b = GraphBuilder((1, 3, 9, 9), "nchw")
    b.slice(
        b.input, "x[:, :, 1::2, ::2]", spatial=[(1, 9, 2), (0, 9, 2)], output_shape=(1, 3, 4, 5)
    )
    (finding,) = lint_graph(b.build(), LintOptions(select=("DS401",))).findings

    class Slice(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x[:, :, 1::2, ::2]

    assert finding.evidence["aliasing"] == pytest.approx(_share_of(Slice()), rel=1e-6)
    assert finding.policy is None  # no fix policy rewrites a slice


def _stride_2_variants() -> dict[str, Graph]:
    graphs = {}

    def new() -> GraphBuilder:
        return GraphBuilder((1, 4, 16, 16), "nchw")

    b = new()  # BlurPool: the blur itself is strided, a fixed depthwise filter
    create_op("blurpool_conv1x1", 4, 4).stridescope_ir(b, b.input, "blurpool")  # type: ignore[operator]
    graphs["blurpool"] = b.build()
    b = new()  # ResNet-D shortcut: average pooling over its stride
    create_op("avgpool_conv1x1", 4, 4).stridescope_ir(b, b.input, "avgpool")  # type: ignore[operator]
    graphs["avgpool"] = b.build()
    b = new()  # blur at stride 1, then a strided conv: low-pass before it
    blur = b.conv(b.input, "blur", out_channels=4, kernel=3, padding=1, groups=4, params=0)
    b.conv(
        b.pointwise(blur, "relu", kind=stridescope.ir.OpKind.ACTIVATION),
        "down",
        out_channels=4,
        kernel=3,
        stride=2,
        padding=1,
    )
    graphs["blur first"] = b.build()
    b = new()  # MaxBlurPool: max pool at stride 1, blur at stride 2
    x = b.pool(b.input, "max", mode="max", kernel=2, stride=1)
    b.conv(x, "blur", out_channels=4, kernel=3, stride=2, padding=1, groups=4, params=0)
    graphs["maxblurpool"] = b.build()
    b = new()
    b.pixel_unshuffle(b.input, "s2d", factor=2)  # every phase kept as channels
    graphs["space to depth"] = b.build()
    return graphs


@pytest.mark.parametrize("name", list(_stride_2_variants()))
def test_low_pass_and_lossless_downsampling_are_not_flagged(name: str) -> None:
    graph = _stride_2_variants()[name]
    assert not lint_graph(graph, LintOptions(select=("DS401",), measure=False)).findings


class SplitDown(nn.Module):
    """A box filter at stride 1, then half the channels to a strided conv and half to a
    strided max pool (a two-branch downsampling block)."""

    def __init__(self, blur: bool) -> None:
        super().__init__()
        self.blur = blur
        self.conv = nn.Conv2d(4, 8, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.blur:
            x = F.avg_pool2d(x, 2, 1, 0, False, True)
        a, b = x.chunk(2, 1)
        return torch.cat([self.conv(a), F.max_pool2d(b, 3, 2, 1)], 1)


def test_a_low_pass_before_a_channel_split_still_filters_each_branch() -> None:
    def flagged(blur: bool) -> list[str]:
        found = stridescope.lint(SplitDown(blur), (1, 8, 16, 16), select="DS401").findings
        return sorted(f.layer for f in found)

    assert flagged(blur=False) == ["conv", "max_pool2d"]
    assert flagged(blur=True) == []


def test_learned_filters_are_flagged_even_when_wide() -> None:
    b = GraphBuilder((1, 4, 16, 16), "nchw")
    x = b.conv(b.input, "learned", out_channels=4, kernel=3, padding=1, groups=4)  # has weights
    b.conv(x, "down", out_channels=4, kernel=3, stride=2, padding=1)
    found = lint_graph(b.build(), LintOptions(select=("DS401",), measure=False)).findings
    assert [f.layer for f in found] == ["down"] and found[0].evidence["aliasing"] is None


@pytest.fixture
def fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty memory cache and a disk cache file of this test's own."""
    path = tmp_path / "cache" / "aliasing.json"
    monkeypatch.setenv("STRIDESCOPE_ALIASING_CACHE", str(path))
    monkeypatch.setattr(lint_aliasing, "_MEMORY", {})
    return path


def test_measured_once_then_from_memory_then_from_disk(
    fresh_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real = lint_aliasing.measure
    monkeypatch.setattr(lint_aliasing, "measure", lambda c: calls.append(c.key) or real(c))
    first = aliasing_shares([ONE_BY_ONE, ONE_BY_ONE])[ONE_BY_ONE]
    assert calls == [ONE_BY_ONE.key] and first is not None
    assert aliasing_shares([ONE_BY_ONE])[ONE_BY_ONE] == first and len(calls) == 1
    stored = json.loads(fresh_cache.read_text(encoding="utf-8"))
    assert stored["entries"] == {ONE_BY_ONE.key: first}
    monkeypatch.setattr(lint_aliasing, "_MEMORY", {})  # a new process: read from disk
    assert aliasing_shares([ONE_BY_ONE])[ONE_BY_ONE] == first and len(calls) == 1


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        '{"protocol": "other", "entries": {}}',
        '["a list"]',
        '{"protocol": "P", "entries": 3}',
    ],
)
def test_a_corrupt_cache_is_measured_again_and_rewritten(fresh_cache: Path, content: str) -> None:
    fresh_cache.parent.mkdir(parents=True)
    fresh_cache.write_text(
        content.replace('"P"', json.dumps(lint_aliasing.PROTOCOL)), encoding="utf-8"
    )
    share = aliasing_shares([ONE_BY_ONE])[ONE_BY_ONE]
    assert share is not None
    assert json.loads(fresh_cache.read_text(encoding="utf-8"))["entries"] == {ONE_BY_ONE.key: share}


def test_a_wrong_value_in_the_cache_is_not_trusted(fresh_cache: Path) -> None:
    fresh_cache.parent.mkdir(parents=True)
    bad = {"protocol": lint_aliasing.PROTOCOL, "entries": {ONE_BY_ONE.key: 7.5}}
    fresh_cache.write_text(json.dumps(bad), encoding="utf-8")
    assert 0.0 < (aliasing_shares([ONE_BY_ONE])[ONE_BY_ONE] or 0.0) < 0.1


def test_an_unwritable_cache_never_breaks_lint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a file"
    blocker.write_text("not a folder", encoding="utf-8")
    monkeypatch.setenv("STRIDESCOPE_ALIASING_CACHE", str(blocker / "aliasing.json"))
    monkeypatch.setattr(lint_aliasing, "_MEMORY", {})
    report = stridescope.lint(str(ROOT / "examples/seed_cnn.toml"), select="DS401")
    assert all(f.evidence["aliasing"] is not None for f in report.findings)
    assert blocker.read_text(encoding="utf-8") == "not a folder"


def test_cache_location(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("STRIDESCOPE_ALIASING_CACHE")
    monkeypatch.setenv("STRIDESCOPE_CACHE", str(tmp_path))
    assert cache_path() == tmp_path / "aliasing-v1.json"
