"""Receptive fields composed through a chain of sliding windows, one axis at a time.

A receptive field is described by three integers, in units of the network's input pixels:

- ``size``: how many input pixels one output position can see;
- ``jump``: the distance in input pixels between two neighbouring output positions;
- ``start``: the input index of the first pixel seen by output position 0 (negative where it
  lies in the padding).
"""

from __future__ import annotations

from dataclasses import dataclass

from stridescope.geometry.padding import check_window, effective_kernel

__all__ = ["ReceptiveField"]


@dataclass(frozen=True)
class ReceptiveField:
    """The receptive field of one axis.

    >>> rf = ReceptiveField()                       # the input itself
    >>> rf = rf.then(kernel=3)                      # 3x3 conv, 'valid'
    >>> rf = rf.then(kernel=2, stride=2)            # 2x2 max pool
    >>> rf = rf.then(kernel=3)                      # 3x3 conv
    >>> rf = rf.then(kernel=1, stride=2)            # the seed's 1x1 stride-2 conv
    >>> rf
    ReceptiveField(size=8, jump=4, start=0)
    """

    size: int = 1
    jump: int = 1
    start: int = 0

    def then(
        self, kernel: int, stride: int = 1, dilation: int = 1, pad_before: int = 0
    ) -> ReceptiveField:
        """The receptive field after one more window on top of this one.

        >>> ReceptiveField().then(kernel=7, stride=2, pad_before=3)
        ReceptiveField(size=7, jump=2, start=-3)
        """
        check_window(None, kernel, stride, dilation)
        span = effective_kernel(kernel, dilation)
        return ReceptiveField(
            size=self.size + (span - 1) * self.jump,
            jump=self.jump * stride,
            start=self.start - pad_before * self.jump,
        )

    @property
    def end(self) -> int:
        """One past the last input index seen by output position 0.

        >>> ReceptiveField(size=5, jump=2, start=-2).end
        3
        """
        return self.start + self.size

    def merge(self, other: ReceptiveField) -> ReceptiveField:
        """The receptive field of a sum or concatenation of two branches: the union of both
        windows, with the coarser jump.

        >>> ReceptiveField(3, 2, -1).merge(ReceptiveField(1, 2, 0))
        ReceptiveField(size=3, jump=2, start=-1)
        """
        start = min(self.start, other.start)
        end = max(self.end, other.end)
        return ReceptiveField(size=end - start, jump=max(self.jump, other.jump), start=start)
