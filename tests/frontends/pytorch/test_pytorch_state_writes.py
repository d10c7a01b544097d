"""A trace leaves the model as it found it, whatever its forward writes: a head caching an
anchor grid and the feature shape it was made for (the stale traced values broke the next
real forward, and the next trace read them as nodes of its own), a parent writing into its
child, spectral norm's pre-hook storing the weight it computes (a model only summarised
could not be deep-copied, so ``fix`` failed)."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import stridescope
from stridescope.frontends import load_graph

SHAPE = (1, 3, 16, 16)


class CachingHead(nn.Module):
    """Builds per-position strides once per feature shape and keeps them."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, stride=2, padding=1)
        self.register_buffer("stride", torch.tensor([2.0]))
        self.shape: torch.Size | None = None
        self.strides = torch.empty(0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.conv(x)
        if self.shape != f.shape:
            self.strides = f.new_full((1, f.shape[2] * f.shape[3]), self.stride[0])
            self.shape = f.shape
        return f.flatten(2) * self.strides


class WritesChild(nn.Module):
    """Writes a scale computed from its own parameter into its child, then calls it."""

    def __init__(self) -> None:
        super().__init__()
        self.child = Scaled()
        self.gain = nn.Parameter(torch.full((3, 1, 1), 2.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.child.scale = torch.ones(3, 1, 1) * self.gain
        return self.child(x)


class Scaled(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.scale = torch.ones(3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale


@pytest.mark.parametrize("warm", [False, True], ids=["fresh", "after a real forward"])
def test_a_forward_caching_on_its_module_is_left_as_it_was(warm: bool) -> None:
    model = CachingHead().eval()
    x = torch.randn(SHAPE)
    if warm:
        model(torch.randn(1, 3, 32, 32))  # cached for another size: the trace rewrites it
    before = dict(vars(model))
    first = load_graph(model, SHAPE)
    assert (
        all(vars(model)[k] is v for k, v in before.items()) and vars(model).keys() == before.keys()
    )
    second = load_graph(model, SHAPE)  # reads no stale traced value as a node of its own
    assert [n.parents for n in second.nodes] == [n.parents for n in first.nodes]
    assert model(x).shape == (1, 4, 64)
    fixed = stridescope.fix(CachingHead().eval(), "blurpool", input_shape=SHAPE)
    assert fixed.model(x).shape == (1, 4, 64)


def test_a_parent_writing_into_its_child_leaves_the_child_as_it_was() -> None:
    model = WritesChild()
    scale = model.child.scale
    graph = load_graph(model, SHAPE)
    assert model.child.scale is scale
    assert graph.params == 3 and model(torch.randn(SHAPE)).shape == SHAPE


def test_a_pre_hook_storing_a_weight_is_undone_and_the_model_copies() -> None:
    model = nn.Sequential(
        nn.utils.spectral_norm(nn.Conv2d(3, 8, 3, padding=1)), nn.Conv2d(8, 8, 1, stride=2)
    ).eval()
    with torch.no_grad():
        model(torch.randn(SHAPE))  # (a forward with autograd stores a weight with a history)
    weight = model[0].weight
    stridescope.summary(model, SHAPE)
    assert model[0].weight is weight
    copy.deepcopy(model)  # a weight with an autograd history refuses deep copies
    fixed = stridescope.fix(model, "blurpool", input_shape=SHAPE)
    assert fixed.changes and fixed.model(torch.randn(SHAPE)).shape == (1, 8, 8, 8)


class Collects(nn.Module):
    """Appends each feature map to a list and files it in a dict (a feature collector)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, stride=2, padding=1)
        self.features: list[torch.Tensor] = []
        self.by_name: dict[str, torch.Tensor] = {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        self.features.append(y)
        self.by_name["conv"] = y
        return y


class Recorder(nn.Module):
    """Records a child's outputs with a forward hook that is a method of its own."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(3, 4, 1), nn.ReLU())
        self.recordings: list[torch.Tensor] = []
        self.net[0].register_forward_hook(self._record)

    def _record(self, module: nn.Module, args: object, output: torch.Tensor) -> None:
        self.recordings.append(output.detach())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@pytest.mark.parametrize("warm", [False, True])
def test_lists_and_dicts_a_forward_adds_to_keep_only_real_values(warm: bool) -> None:
    model = Collects()
    features, by_name = model.features, model.by_name
    if warm:
        model(torch.randn(SHAPE))
    before = list(features)
    stridescope.summary(model, SHAPE)
    assert model.features is features and model.by_name is by_name
    assert len(features) == len(before) and all(
        a is b for a, b in zip(features, before, strict=True)
    )
    assert list(by_name) == (["conv"] if warm else [])
    model(torch.randn(SHAPE))
    assert all(type(f) is torch.Tensor and not f.is_meta for f in features)
    assert len(load_graph(model, SHAPE).nodes) == 2  # the second trace reads no stale value


def test_a_hook_method_recording_into_its_module_is_undone() -> None:
    model = Recorder()
    stridescope.summary(model, SHAPE)
    assert model.recordings == []
    model(torch.randn(SHAPE))
    assert len(model.recordings) == 1 and not model.recordings[0].is_meta


class BiasCache(nn.Module):
    """Caches, outside training, a bias computed from its parameter per device (the pattern
    of timm's LeViT, EfficientFormer, EfficientViT and TinyViT attention biases)."""

    def __init__(self) -> None:
        super().__init__()
        self.table = nn.Parameter(torch.randn(3, 10))
        self.register_buffer("index", torch.randint(0, 10, (16, 16)), persistent=False)
        self.cache: dict[str, torch.Tensor] = {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        key = str(x.device)
        if self.training:
            return x + self.table[:, self.index]
        if key not in self.cache:
            self.cache[key] = self.table[:, self.index]
        return x + self.cache[key]


class NeedsTables(nn.Module):
    """A dict of real tensors the forward needs as they are (not a cache it refills)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)
        self.tables = {"shift": torch.ones(3, 16, 16)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) + self.tables["shift"]


def test_a_cache_filled_by_a_real_forward_does_not_hide_its_parameters() -> None:
    """After the model ran under ``no_grad`` (as evaluation does), its cache holds a tensor
    that no longer leads to the parameter: the parameter was reported unused, so the same
    model summarised differently before and after a real forward. The trace reads it with
    the cache empty, and the cache is as it was afterwards."""
    net = nn.Sequential(nn.Conv2d(3, 3, 1), BiasCache()).eval()
    total = sum(p.numel() for p in net.parameters())
    fresh = stridescope.summary(net, input_shape=SHAPE)
    with torch.no_grad():
        net(torch.randn(SHAPE))
    cached = net[1].cache["cpu"]
    after = stridescope.summary(net, input_shape=SHAPE)
    assert fresh.totals.params == after.totals.params == total and after.notes == ()
    assert after.totals.macs == fresh.totals.macs
    assert list(net[1].cache) == ["cpu"] and net[1].cache["cpu"] is cached


def test_a_dict_of_tensors_the_forward_needs_is_still_read() -> None:
    net = NeedsTables().eval()
    graph = load_graph(net, SHAPE)
    assert graph.params == sum(p.numel() for p in net.parameters())
    assert graph.output.output_shape == SHAPE
    assert list(net.tables) == ["shift"] and net.tables["shift"].shape == (3, 16, 16)
