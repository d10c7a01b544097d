"""Architectures with named downsampling slots, in one registry.

- ``seed-cnn``: the seed's network adapted to the data's shape:
  conv3x3 -> ReLU -> maxpool2 -> conv3x3 -> ReLU -> [slot] -> ReLU -> flatten -> dense.
  Inputs smaller than 16 px get padding 1 in the two convolutions so the slot still sees a map.
- ``resnet-mini``: a stem and three bottleneck stages (stride 1, 2, 2). Each stride-2 stage has
  a **main-path** slot and a **shortcut** slot. ``preset`` places them as in the ResNet papers:

  ====== =================================== ============================ ==================
  preset main path                           default main op              default shortcut
  ====== =================================== ============================ ==================
  v1     the slot is the first 1x1 (in->mid) ``conv1x1_s2``               ``conv1x1_s2``
  b      the slot is the 3x3 (mid->mid)      ``conv3x3_s2`` (v1.5 / B)    ``conv1x1_s2``
  d      the slot is the 3x3 (mid->mid)      ``conv3x3_s2``               ``avgpool_conv1x1``
  ====== =================================== ============================ ==================

  ``slot`` says which slots take the studied operator: ``both`` (default), ``main`` or
  ``shortcut``; the other slot keeps the preset's default.

Every slot module is an attribute whose name starts with ``slot``. For one seed, the layers
outside the slots get the same initial weights whatever operator fills the slots: the model is
built under ``torch.manual_seed(seed)`` and each slot is created inside ``fork_rng`` with a seed
derived from (seed, "slot", index), so building a slot never moves the backbone's random stream.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from stridescope.errors import StridescopeError, UnknownNameError
from stridescope.registry import Registry

__all__ = [
    "ARCHS",
    "PRESETS",
    "SLOTS",
    "ArchInput",
    "arch_names",
    "build_model",
    "is_custom_op",
    "make_op",
    "slot_seed",
]

PRESETS: dict[str, tuple[str, str]] = {
    "v1": ("conv1x1_s2", "conv1x1_s2"),
    "b": ("conv3x3_s2", "conv1x1_s2"),
    "d": ("conv3x3_s2", "avgpool_conv1x1"),
}
SLOTS = ("both", "main", "shortcut")


@dataclass(frozen=True)
class ArchInput:
    """What an architecture factory needs: the operator, data shape and slot placement."""

    op: str
    input_shape: tuple[int, int, int]  # (C, H, W)
    num_classes: int
    seed: int
    preset: str = "v1"
    slot: str = "both"


ARCHS: Registry[nn.Module] = Registry("architecture")


def arch_names() -> tuple[str, ...]:
    """Registered architecture names.

    >>> arch_names()
    ('seed-cnn', 'resnet-mini')
    """
    return ARCHS.names()


def slot_seed(seed: int, index: int) -> int:
    """A seed for slot ``index`` derived from the run seed (stable across processes).

    >>> slot_seed(0, 0) == slot_seed(0, 0), slot_seed(0, 0) == slot_seed(0, 1)
    (True, False)
    """
    digest = hashlib.sha256(f"{seed}/slot/{index}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def is_custom_op(op: str) -> bool:
    """``FILE.py:FACTORY`` or ``package.module:FACTORY``: a user's operator, not a zoo name."""
    return ":" in op


def make_op(op: str, cin: int, cout: int) -> nn.Module:
    """A zoo operator by name, or a user's: ``FACTORY(cin, cout)`` from ``FILE.py:FACTORY``
    (imported in whichever process builds the model: a worker imports the file itself)."""
    from stridescope.analysis.compare import build_op

    if not is_custom_op(op):
        return build_op(op, None, cin, cout)
    from stridescope.frontends.load import resolve_factory

    return build_op(op, resolve_factory(op), cin, cout)


def _make_slot(op: str, cin: int, cout: int, seed: int, index: int) -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(slot_seed(seed, index))
        return make_op(op, cin, cout)


def _half(n: int) -> int:
    return -(-n // 2)


@ARCHS.register("seed-cnn", doc="conv3x3, maxpool2, conv3x3, [slot], dense: the seed's CNN")
class SeedCNN(nn.Module):
    def __init__(self, spec: ArchInput) -> None:
        super().__init__()
        channels, height, width = spec.input_shape
        pad = 1 if min(height, width) < 16 else 0
        self.conv1 = nn.Conv2d(channels, 32, 3, padding=pad)
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=pad)
        h, w = (height + 2 * pad - 2) // 2, (width + 2 * pad - 2) // 2
        h, w = h + 2 * pad - 2, w + 2 * pad - 2
        if min(h, w) < 1:
            raise StridescopeError(
                f"seed-cnn needs images of at least 2x2 pixels; received {spec.input_shape}"
            )
        self.dense = nn.Linear(64 * _half(h) * _half(w), spec.num_classes)
        self.slot = _make_slot(spec.op, 64, 64, spec.seed, 0)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.act(self.conv1(x)))  # (N, 32, H', W')
        x = self.act(self.conv2(x))  # (N, 64, h, w)
        x = self.act(self.slot(x))  # (N, 64, ceil(h/2), ceil(w/2))
        logits: torch.Tensor = self.dense(torch.flatten(x, 1))  # (N, classes)
        return logits


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels)


class _Bottleneck(nn.Module):
    """1x1 -> 3x3 -> 1x1 with a shortcut; stride-2 blocks take their downsampling from slots."""

    def __init__(
        self, cin: int, mid: int, cout: int, slots: tuple[str, str] | None, spec: ArchInput, n: int
    ) -> None:
        super().__init__()
        act = nn.ReLU()
        main_op, short_op = slots or ("", "")
        main_at_reduce = slots is not None and spec.preset == "v1"
        reduce: nn.Module = nn.Conv2d(cin, mid, 1, bias=False)
        middle: nn.Module = nn.Conv2d(mid, mid, 3, padding=1, bias=False)
        self.expand = nn.Sequential(nn.Conv2d(mid, cout, 1, bias=False), _bn(cout))
        if slots is None:
            self.reduce = nn.Sequential(reduce, _bn(mid), act)
            self.middle = nn.Sequential(middle, _bn(mid), act)
            self.shortcut: nn.Module = nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), _bn(cout))
            return
        if main_at_reduce:
            self.reduce = nn.Sequential(_bn(mid), act)
            self.middle = nn.Sequential(middle, _bn(mid), act)
        else:
            self.reduce = nn.Sequential(reduce, _bn(mid), act)
            self.middle = nn.Sequential(_bn(mid), act)
        self.shortcut = _bn(cout)
        self.slot_main = _make_slot(main_op, cin if main_at_reduce else mid, mid, spec.seed, 2 * n)
        self.slot_shortcut = _make_slot(short_op, cin, cout, spec.seed, 2 * n + 1)
        self.main_at_reduce = main_at_reduce

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not hasattr(self, "slot_main"):
            y = self.expand(self.middle(self.reduce(x)))
            return torch.relu(y + self.shortcut(x))
        if self.main_at_reduce:
            y = self.middle(self.reduce(self.slot_main(x)))  # (N, mid, H/2, W/2)
        else:
            y = self.middle(self.slot_main(self.reduce(x)))  # (N, mid, H/2, W/2)
        y = self.expand(y)  # (N, out, H/2, W/2)
        return torch.relu(y + self.shortcut(self.slot_shortcut(x)))


@ARCHS.register(
    "resnet-mini",
    doc="stem + 3 bottleneck stages; stride-2 stages have main and shortcut slots",
    reference="He et al. 2016; He et al. 2019 (Bag of Tricks, ResNet-B/D)",
)
class ResNetMini(nn.Module):
    def __init__(self, spec: ArchInput) -> None:
        super().__init__()
        if spec.preset not in PRESETS:
            raise UnknownNameError("resnet-mini preset", spec.preset, PRESETS)
        if spec.slot not in SLOTS:
            raise UnknownNameError("resnet-mini slot", spec.slot, SLOTS)
        main_default, short_default = PRESETS[spec.preset]
        main = spec.op if spec.slot in ("both", "main") else main_default
        short = spec.op if spec.slot in ("both", "shortcut") else short_default
        self.stem = nn.Sequential(
            nn.Conv2d(spec.input_shape[0], 16, 3, padding=1, bias=False), _bn(16), nn.ReLU()
        )
        self.stages = nn.Sequential(
            _Bottleneck(16, 8, 32, None, spec, 0),
            _Bottleneck(32, 16, 64, (main, short), spec, 1),
            _Bottleneck(64, 32, 128, (main, short), spec, 2),
        )
        self.head = nn.Linear(128, spec.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem(x))  # (N, 128, H/4, W/4)
        logits: torch.Tensor = self.head(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))
        return logits


def build_model(spec: ArchInput, arch: str) -> nn.Module:
    """Build architecture ``arch`` with ``spec.op`` in its slots, initialised from ``spec.seed``.

    >>> build_model(ArchInput("conv1x1_s2", (1, 8, 8), 10, seed=0), "vgg")
    Traceback (most recent call last):
    ...
    stridescope.errors.UnknownNameError: unknown architecture 'vgg'; known: seed-cnn, resnet-mini
    """
    factory: Callable[[ArchInput], nn.Module] = ARCHS.get(arch).factory
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(spec.seed)
        return factory(spec)
