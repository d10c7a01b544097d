"""The exceptions the PyTorch tracer raises and catches.

:class:`TraceError` and :class:`LayerInputError` end a trace; ``trace_torch`` turns them into
one-line :class:`~stridescope.errors.StridescopeError`. :class:`NotHandled` never leaves the
tracer: a handler raises it for arguments it does not model, and the call runs on meta tensors.
"""

from __future__ import annotations

from stridescope.errors import StridescopeError

__all__ = ["InputUnbatched", "LayerInputError", "NotHandled", "TraceError", "data_sized_error"]


class TraceError(Exception):
    """The forward did something a shape-only trace cannot follow (e.g. reads tensor values);
    ``node``: the node whose values it read, where that is what it did."""

    def __init__(self, text: str, node: int | None = None) -> None:
        super().__init__(text)
        self.node = node


def data_sized_error(what: str) -> TraceError:
    """The error for an op whose output size depends on tensor values (``what`` names it).

    >>> str(data_sized_error("nonzero")).split(",")[0]
    "nonzero returns as many elements as the tensor's values select"
    >>> str(data_sized_error("bincount")).split(",")[0]
    "bincount returns as many counts as the largest of the tensor's values (plus one)"
    """
    if what == "bincount":  # (sized by the largest value, not by a selection)
        size, fixed = "counts as the largest of the tensor's values (plus one)", _ONE_HOT_SUM
    else:
        size, fixed = "elements as the tensor's values select", _WHERE
    return TraceError(
        f"{what} returns as many {size}, and a trace reads shapes only: give the model a "
        f"fixed-size form of it (e.g. {fixed})"
    )


_WHERE = "torch.where with a mask instead of masked_select or indexing by nonzero"
_ONE_HOT_SUM = "F.one_hot(x, n).sum(0) for values below n"


class LayerInputError(Exception):
    """A layer received an input it cannot take (wrong rank or channel count).

    >>> str(LayerInputError("fc", "Linear", "a last axis of 10", (1, 12)))
    "layer 'fc' (Linear) expects a last axis of 10; it received shape (1, 12)"
    """

    def __init__(
        self, name: str, op: str, expected: str, received: tuple[int, ...], unbatched: bool = False
    ) -> None:
        super().__init__(f"layer {name!r} ({op}) expects {expected}; it received shape {received}")
        self.layer = name
        self.unbatched = unbatched  # the model's input, one axis short: a batch of one?


class InputUnbatched(StridescopeError):
    """A layer refused the model's input for lacking the batch axis it would add (torch reads
    ``(C, H, W)`` as a batch of one): ``trace_torch`` reads the input that way
    (:mod:`.batch_of_one`), else this error stands."""


class NotHandled(Exception):
    """Raised by a handler for arguments it does not model; the call falls back to meta."""
