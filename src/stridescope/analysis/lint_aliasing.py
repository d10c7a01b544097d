"""DS401's evidence: the aliasing share of a strided layer's configuration, measured with
``compare``'s metric (:func:`~stridescope.analysis.signal.aliasing_share`) on the photos
``compare`` uses, and cached per configuration.

The protocol: the layer's configuration (kind, kernel, stride, dilation, padding and what it
holds, ceil mode) is built as a module on 3 channels (a convolution maps them to 16 with
``nn.Conv2d``'s initialisation under seed 0, as ``compare --out-channels 16`` does; a
depthwise one keeps 3) and measured on the first 4 bundled photos at 64x64 (larger for
strides above 8: 8 px per unit of stride), with the cutoff ``1 / (2 * stride)`` cycles per
pixel on each axis. A 1x1 stride-2 conv is then exactly ``compare``'s ``conv1x1_s2`` at
``--input 3x64x64 --out-channels 16``: 0.0318.

The first measurement in a process costs a few seconds (torch loads its forward-mode
derivatives, the photos are decoded); each new configuration after that about 0.1 s. Results
are kept in memory and in ``aliasing-v1.json`` in the cache folder
(``$STRIDESCOPE_ALIASING_CACHE`` names the file; else ``$STRIDESCOPE_CACHE`` or
``platformdirs.user_cache_dir("stridescope")`` the folder). A cache that cannot be read or
written is ignored: lint measures again and goes on.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from stridescope.ir import Graph, Node, OpKind

if TYPE_CHECKING:
    from torch import nn

__all__ = ["CACHE_FILE", "PROTOCOL", "AliasConfig", "aliasing_shares", "cache_path", "config_of"]

CACHE_FILE = "aliasing-v1.json"
#: Stored with the cache: a file written under another protocol is not used.
PROTOCOL = "aliasing_share; 4 bundled photos; 3 -> 16 channels; seed 0; 64 px or 8 px/stride"
_PHOTOS = 4
_OUT_CHANNELS = 16
_KINDS = {
    OpKind.CONV: "conv",
    OpKind.MAXPOOL: "maxpool",
    OpKind.AVGPOOL: "avgpool",
    OpKind.SLICE: "slice",
    OpKind.POLYPHASE: "polyphase",
}
_MEMORY: dict[str, float] = {}


@dataclass(frozen=True)
class AliasConfig:
    """What the measurement of one strided 2-D layer depends on.

    >>> c = AliasConfig("conv", (1, 1), (2, 2), (1, 1), ((0, 0), (0, 0)))
    >>> c.key, c.size
    ('conv k1x1 s2x2 d1x1 p0+0,0+0 zeros', 64)
    """

    kind: str  # conv, depthwise, maxpool, avgpool, slice, polyphase
    kernel: tuple[int, int]
    stride: tuple[int, int]
    dilation: tuple[int, int]
    padding: tuple[tuple[int, int], tuple[int, int]]
    pad_mode: str = "zeros"
    ceil_mode: bool = False

    @property
    def key(self) -> str:
        """The cache key."""
        pads = ",".join(f"{a}+{b}" for a, b in self.padding)
        text = (
            f"{self.kind} k{self.kernel[0]}x{self.kernel[1]} s{self.stride[0]}x{self.stride[1]} "
            f"d{self.dilation[0]}x{self.dilation[1]} p{pads} {self.pad_mode}"
        )
        return text + (" ceil" if self.ceil_mode else "")

    @property
    def size(self) -> int:
        """Side of the photos it is measured on."""
        return max(64, 8 * max(self.stride))

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "kernel": list(self.kernel),
            "stride": list(self.stride),
            "dilation": list(self.dilation),
            "padding": [list(p) for p in self.padding],
            "pad_mode": self.pad_mode,
            "ceil_mode": self.ceil_mode,
            "photos": _PHOTOS,
            "photo_size": self.size,
        }


def config_of(graph: Graph, node: Node) -> AliasConfig | None:
    """The configuration of a strided 2-D layer (``None`` for other layers, 1-D and 3-D
    windows, and polyphase sampling by other than 2)."""
    window, kind = node.window, _KINDS.get(node.kind)
    if window is None or kind is None or len(window.kernel) != 2:
        return None
    if kind == "polyphase" and window.stride != (2, 2):
        return None
    if kind == "conv":
        channels = graph.channels(node.input_shape)
        if node.groups > 1 and node.groups == channels:
            kind = "depthwise"
    padding = window.padding
    if kind == "slice":  # only where it starts matters; the stop depends on the size
        padding = tuple((p[0], 0) for p in padding)
    return AliasConfig(
        kind,
        (window.kernel[0], window.kernel[1]),
        (window.stride[0], window.stride[1]),
        (window.dilation[0], window.dilation[1]),
        ((padding[0][0], padding[0][1]), (padding[1][0], padding[1][1])),
        window.pad_mode,
        window.ceil_mode,
    )


def _probe(config: AliasConfig) -> nn.Module:
    """The configuration as a module: explicit padding, then the op without padding (torch
    is imported here, so a lint whose shares are all cached never loads it)."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    conv: nn.Conv2d | None = None
    if config.kind in ("conv", "depthwise"):
        depthwise = config.kind == "depthwise"
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            conv = nn.Conv2d(
                3,
                3 if depthwise else _OUT_CHANNELS,
                config.kernel,
                config.stride,
                dilation=config.dilation,
                groups=3 if depthwise else 1,
            )

    class Probe(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = conv

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            c = config
            (top, bottom), (left, right) = c.padding
            if c.kind == "slice":
                return x[:, :, -top :: c.stride[0], -left :: c.stride[1]]  # (N, C, H/s, W/s)
            if c.kind == "polyphase":
                from stridescope.ops.polyphase import polyphase_select

                return polyphase_select(x)  # (N, C, H/2, W/2)
            if c.pad_mode == "zeros":
                fill = -math.inf if c.kind == "maxpool" else 0.0
                x = F.pad(x, (left, right, top, bottom), value=fill)
            else:
                x = F.pad(x, (left, right, top, bottom), mode=c.pad_mode)
            if self.conv is not None:
                out: torch.Tensor = self.conv(x)  # (N, C_out, H', W')
                return out
            if c.kind == "maxpool":
                return F.max_pool2d(x, c.kernel, c.stride, 0, c.dilation, c.ceil_mode)
            return F.avg_pool2d(x, c.kernel, c.stride, 0, c.ceil_mode)

    return Probe().eval()


def measure(config: AliasConfig) -> float:
    """Measure one configuration (no cache)."""
    from stridescope.analysis.images import load_images
    from stridescope.analysis.signal import aliasing_share

    size = config.size
    photos = load_images((3, size + 2, size + 2), _PHOTOS)[:, :, :-2, :-2]  # as compare crops
    cutoff = (1 / (2 * config.stride[0]), 1 / (2 * config.stride[1]))
    return aliasing_share(_probe(config), photos, cutoff)


def cache_path() -> Path:
    """Where measured shares are kept (see the module docstring)."""
    named = os.environ.get("STRIDESCOPE_ALIASING_CACHE")
    if named:
        return Path(named).expanduser()
    folder = os.environ.get("STRIDESCOPE_CACHE")
    if not folder:
        import platformdirs

        folder = platformdirs.user_cache_dir("stridescope")
    return Path(folder).expanduser() / CACHE_FILE


def _read(path: Path) -> dict[str, float]:
    """The cached shares; anything unreadable, corrupt or of another protocol reads as none."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("protocol") != PROTOCOL:
        return {}
    entries = data.get("entries")
    if not isinstance(entries, dict):
        return {}
    return {
        str(key): float(value)
        for key, value in entries.items()
        if isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and 0.0 <= value <= 1.0
    }


def _write(path: Path, new: dict[str, float]) -> None:
    """Add ``new`` to the file (written whole, then renamed into place); errors are ignored."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        entries = {**_read(path), **new}
        text = json.dumps({"protocol": PROTOCOL, "entries": entries}, indent=0, sort_keys=True)
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    except OSError:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)


def aliasing_shares(configs: Iterable[AliasConfig]) -> dict[AliasConfig, float | None]:
    """The share of each configuration: from memory, from the disk cache, or measured (then
    stored in both). ``None`` where the measurement itself failed."""
    wanted = list(dict.fromkeys(configs))
    missing = [c for c in wanted if c.key not in _MEMORY]
    if missing:
        path = cache_path()
        _MEMORY.update({k: v for k, v in _read(path).items() if k not in _MEMORY})
        measured: dict[str, float] = {}
        for config in (c for c in missing if c.key not in _MEMORY):
            try:
                measured[config.key] = measure(config)
            except (RuntimeError, ValueError):
                continue
        if measured:
            _MEMORY.update(measured)
            _write(path, measured)
    return {c: _MEMORY.get(c.key) for c in wanted}
