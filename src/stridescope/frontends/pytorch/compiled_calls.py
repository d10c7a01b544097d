"""Functions compiled with ``torch.compile`` that a forward calls (a ``@torch.compile`` helper,
torchvision's ``roi_align`` in Python, which it compiles): run as plain Python while a trace
runs (dynamo's ``force_eager`` stance), so the tracer reads each of their torch calls as it
reads the rest of the forward. Left to dynamo, each would be compiled on the tracer's
stand-in tensors: seconds a call, and an internal error where it compares a size with a
tensor (``torch.where(y >= height - 1, height - 1, y + 1)``).

Nothing is compiled in a process that has not loaded dynamo, so nothing is done there. A
trace started inside a compiled region keeps dynamo's stance (torch refuses a change there).
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["route", "unroute"]

_PRIOR: list[Any] = []  # the stance before the trace, while one runs


def route() -> None:
    """Run compiled functions eagerly until :func:`unroute`."""
    frames = sys.modules.get("torch._dynamo.eval_frame")
    if frames is None:  # (dynamo not loaded: nothing compiled)
        return
    try:
        _PRIOR.append(frames._set_stance(frames.DynamoStance("force_eager")))
    except (AttributeError, RuntimeError, TypeError):  # (another torch; a compiled region)
        return


def unroute() -> None:
    """Dynamo's stance as it was before :func:`route`."""
    if _PRIOR:
        frames = sys.modules["torch._dynamo.eval_frame"]
        frames._set_stance(_PRIOR.pop())
