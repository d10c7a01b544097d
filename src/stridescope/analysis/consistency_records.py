"""The records of a shift-consistency measurement (:mod:`stridescope.analysis.consistency`):
options, the measured values, and the report of a trained model on a dataset. Frozen and
JSON-ready; no torch here, so reports and plots read them without it.

>>> point = ShiftPoint(2, 0.75)
>>> point.to_dict()
{'shift': 2, 'p_correct': 0.75}
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stridescope.errors import StridescopeError

__all__ = ["Consistency", "ConsistencyOptions", "ConsistencyReport", "ShiftPoint"]


@dataclass(frozen=True)
class ConsistencyOptions:
    """``max_shift``: K, shifts are drawn from ``[0, K)²`` and the curve runs ``0 .. K``
    (``None``: a seventh of the image's smaller side, at least 1 — 32 at 224 px, as
    antialiased-cnns' 224-px crops of a 256-px image; 4 at 28 px); ``seed``: the draw of the
    random shifts; ``confidence``: of the interval.

    >>> ConsistencyOptions().shift_for(28, 28), ConsistencyOptions().shift_for(224, 224)
    (4, 32)
    """

    max_shift: int | None = None
    seed: int = 0
    confidence: float = 0.95

    def shift_for(self, height: int, width: int) -> int:
        """K for images of ``height`` x ``width``, checked: ``1 <= K < min(height, width)``."""
        k = max(1, min(height, width) // 7) if self.max_shift is None else self.max_shift
        if k < 1:
            raise StridescopeError(f"max shift must be at least 1; received {k}")
        if k >= min(height, width):
            raise StridescopeError(
                f"max shift must be smaller than the images ({height}x{width}); received {k}"
            )
        return k


@dataclass(frozen=True)
class ShiftPoint:
    """The mean probability of the correct class with the images shifted by ``(s, s)``."""

    shift: int
    p_correct: float

    def to_dict(self) -> dict[str, Any]:
        return {"shift": self.shift, "p_correct": self.p_correct}


@dataclass(frozen=True)
class Consistency:
    """What :func:`measure_consistency` returns (JSON-ready through :meth:`to_dict`)."""

    accuracy: float
    consistency: float
    consistency_ci: tuple[float, float]
    circular_consistency: float
    shift_curve: tuple[ShiftPoint, ...]
    images: int
    max_shift: int
    seed: int
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        """``{"accuracy", "consistency", "consistency_ci", "circular_consistency",
        "shift_curve": [{"shift", "p_correct"}], "images", "max_shift", "seed",
        "confidence"}``."""
        return {
            "accuracy": self.accuracy,
            "consistency": self.consistency,
            "consistency_ci": list(self.consistency_ci),
            "circular_consistency": self.circular_consistency,
            "shift_curve": [p.to_dict() for p in self.shift_curve],
            "images": self.images,
            "max_shift": self.max_shift,
            "seed": self.seed,
            "confidence": self.confidence,
        }


@dataclass(frozen=True)
class ConsistencyReport:
    """A trained model measured on a dataset's test images: what was measured and on what
    (``source``: the target; ``input_shape``: ``(C, H, W)`` of the images the model saw)."""

    source: str
    dataset: str
    input_shape: tuple[int, int, int]
    num_classes: int
    measured: Consistency

    def to_dict(self) -> dict[str, Any]:
        """The measurement's keys, then ``source``, ``dataset``, ``input_shape``,
        ``num_classes``."""
        return {
            **self.measured.to_dict(),
            "source": self.source,
            "dataset": self.dataset,
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
        }
