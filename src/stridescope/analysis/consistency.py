"""How shift-consistent a trained classifier is (Zhang 2019, *Making Convolutional Networks
Shift-Invariant Again*; antialiased-cnns' ``-es`` and ``-ed`` evaluations), measured on test
images:

- **accuracy**: the share of images whose predicted class is their label;
- **consistency**: each image is shifted twice by random ``(dy, dx)`` in ``[0, K)²`` (K by
  default a seventh of the image's smaller side: 4 at 28 px, 32 at 224 px); the share of
  images whose two predicted classes agree, with a 95% Wilson interval over images;
- **circular consistency**: the same with circular shifts (``torch.roll``), where a network
  with circular padding and adaptive polyphase sampling at every downsampling is exactly
  invariant (Chaman & Dokmanić 2021);
- **shift curve**: the mean probability (softmax) of the correct class for the diagonal
  shifts ``(s, s)``, ``s = 0 .. K``.

A shift ``(dy, dx)`` moves the image content down by ``dy`` and right by ``dx`` pixels; the
rows and columns it uncovers take the **background value** (per channel, the median of the
images' outermost ring of pixels: 0 for raw MNIST, whatever that becomes after
normalisation), and what moves past the bottom and right edges is cut. Shift 0 is the image.
The two random shifts of each image come from a numpy generator seeded with ``seed``
(:func:`draw_shifts`), so a measurement is reproducible and can be recomputed by hand.

>>> x = torch.arange(9.0).reshape(1, 1, 3, 3)
>>> translate(x, torch.tensor([[1, 0]]), torch.tensor([-1.0]))[0, 0].tolist()
[[-1.0, -1.0, -1.0], [0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
>>> roll(x, torch.tensor([[0, 1]]))[0, 0].tolist()
[[2.0, 0.0, 1.0], [5.0, 3.0, 4.0], [8.0, 6.0, 7.0]]
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from stridescope.analysis.consistency_records import (
    Consistency,
    ConsistencyOptions,
    ConsistencyReport,
    ShiftPoint,
)
from stridescope.analysis.stats import proportion_ci
from stridescope.errors import StridescopeError

__all__ = [
    "Consistency",
    "ConsistencyOptions",
    "ConsistencyReport",
    "ShiftPoint",
    "background_value",
    "draw_shifts",
    "measure_consistency",
    "roll",
    "translate",
]

Predict = Callable[[torch.Tensor], torch.Tensor]


def background_value(x: torch.Tensor) -> torch.Tensor:
    """Per channel, the median of the outermost ring of pixels of images ``(N, C, H, W)``.

    >>> x = torch.ones(2, 1, 4, 4); x[:, :, 1:3, 1:3] = 9.0
    >>> background_value(x).tolist()
    [1.0]
    """
    ring = torch.cat([x[:, :, 0, :], x[:, :, -1, :], x[:, :, :, 0], x[:, :, :, -1]], dim=2)
    return ring.transpose(0, 1).reshape(x.shape[1], -1).median(dim=1).values  # (C,)


def _indices(shifts: torch.Tensor, h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image, the source row ``(N, H)`` and column ``(N, W)`` of every output pixel."""
    rows = torch.arange(h).view(1, h) - shifts[:, 0:1]  # (N, H)
    cols = torch.arange(w).view(1, w) - shifts[:, 1:2]  # (N, W)
    return rows, cols


def _gather(x: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    n, _, h, w = x.shape
    index = torch.arange(n).view(n, 1, 1)
    out = x.permute(0, 2, 3, 1)[index, rows.view(n, h, 1), cols.view(n, 1, w)]  # (N, H, W, C)
    return out.permute(0, 3, 1, 2).contiguous()  # (N, C, H, W)


def translate(x: torch.Tensor, shifts: torch.Tensor, background: torch.Tensor) -> torch.Tensor:
    """Each image of ``x`` ``(N, C, H, W)`` moved down by ``shifts[i, 0]`` and right by
    ``shifts[i, 1]`` pixels (negative: up, left), the uncovered pixels set to ``background``
    ``(C,)``.

    >>> x = torch.arange(9.0).reshape(1, 1, 3, 3)
    >>> translate(x, torch.tensor([[-1, 1]]), torch.tensor([0.0]))[0, 0].tolist()
    [[0.0, 3.0, 4.0], [0.0, 6.0, 7.0], [0.0, 0.0, 0.0]]
    """
    n, c, h, w = x.shape
    rows, cols = _indices(shifts.cpu(), h, w)
    inside_rows = ((rows >= 0) & (rows < h)).view(n, 1, h, 1)
    inside = (inside_rows & ((cols >= 0) & (cols < w)).view(n, 1, 1, w)).to(x.device)
    rows, cols = rows.clamp(0, h - 1).to(x.device), cols.clamp(0, w - 1).to(x.device)
    out = _gather(x, rows, cols)
    return torch.where(inside, out, background.view(1, c, 1, 1).to(x))


def roll(x: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
    """Each image of ``x`` rolled circularly down by ``shifts[i, 0]`` and right by
    ``shifts[i, 1]`` pixels (``torch.roll`` per image)."""
    _, _, h, w = x.shape
    rows, cols = _indices(shifts.cpu(), h, w)
    return _gather(x, (rows % h).to(x.device), (cols % w).to(x.device))


def draw_shifts(images: int, max_shift: int, seed: int) -> torch.Tensor:
    """The two random shifts of each image: ``(2, images, 2)`` integers in ``[0, K)``.

    >>> draw_shifts(3, 4, seed=0).shape
    torch.Size([2, 3, 2])
    """
    rng = np.random.default_rng([seed, 0x5C1F7])
    return torch.from_numpy(rng.integers(0, max_shift, size=(2, images, 2)))


def _agreement(
    predict: Predict, moved: Callable[[torch.Tensor], torch.Tensor], shifts: torch.Tensor
) -> int:
    """How many images get the same class under their two shifts (``moved(shifts[k])``)."""
    first = predict(moved(shifts[0])).argmax(1)
    second = predict(moved(shifts[1])).argmax(1)
    return int((first == second).sum())


def measure_consistency(
    predict: Predict, x: torch.Tensor, y: torch.Tensor, options: ConsistencyOptions | None = None
) -> Consistency:
    """Accuracy, random-shift and circular-shift consistency and the diagonal shift curve of
    a classifier ``predict`` (images ``(N, C, H, W)`` to logits ``(N, classes)``) on images
    ``x`` with labels ``y``."""
    opts = options or ConsistencyOptions()
    n, _, h, w = x.shape
    if n == 0 or len(y) != n:
        raise StridescopeError(f"need images and as many labels; received {n} and {len(y)}")
    k = opts.shift_for(h, w)
    labels = y.long().cpu()
    background = background_value(x)
    logits = predict(x)  # shift 0: accuracy and the curve's first point
    accuracy = int((logits.argmax(1) == labels).sum()) / n
    shifts = draw_shifts(n, k, opts.seed)
    agree = _agreement(predict, lambda s: translate(x, s, background), shifts)
    circular = _agreement(predict, lambda s: roll(x, s), shifts)
    interval = proportion_ci(agree, n, opts.confidence)
    curve = []
    for s in range(k + 1):
        if s:
            logits = predict(translate(x, torch.full((n, 2), s), background))
        probs = torch.softmax(logits.double(), dim=1)
        curve.append(ShiftPoint(s, float(probs[torch.arange(n), labels].mean())))
    assert interval.low is not None and interval.high is not None
    return Consistency(
        accuracy=accuracy,
        consistency=agree / n,
        consistency_ci=(interval.low, interval.high),
        circular_consistency=circular / n,
        shift_curve=tuple(curve),
        images=n,
        max_shift=k,
        seed=opts.seed,
        confidence=opts.confidence,
    )
