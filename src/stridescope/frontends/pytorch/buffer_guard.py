"""A summary leaves the model's buffers as they were, whatever its forward writes.

A forward may write a buffer in place where no reading of its code sees it (``bump(self.n)``
with ``def bump(t): t.add_(1)``, ``getattr(self, name).mul_(2)``, a loop over
``self.modules()`` adding to a counter each holds): those writes ran on the real buffers, so
each summary changed the model (a counter went up by one). The in-place writes the tracer
does see (``state_writes``, ``tensor_writes``) are kept and put back as before; this is the
net under them. Each buffer's version counter is read before the trace and after it; the
first traces of a model class also copy every buffer, and after the trace put back the values
of each buffer whose counter moved. A class whose traces moved no counter is not copied again
(its later traces read the counters only); should one move then, the graph says so in a note.

>>> import torch
>>> from torch import nn
>>> from stridescope.frontends.pytorch import trace_torch
>>> class Counts(nn.Module):
...     def __init__(self):
...         super().__init__()
...         self.register_buffer("calls", torch.zeros(()))
...         self.conv = nn.Conv2d(3, 4, 1)
...     def forward(self, x):
...         getattr(self, "calls").add_(1)  # (no reading of the code sees it)
...         return self.conv(x)
>>> model = Counts()
>>> _ = trace_torch(model, (1, 3, 8, 8))
>>> float(model.calls)
0.0
"""

from __future__ import annotations

import torch
from torch import Tensor

from stridescope.frontends.pytorch.module_tree import ModuleTree
from stridescope.frontends.pytorch.versions import versions

__all__ = ["BufferGuard"]

# per model class: whether a trace of it moved a buffer's version counter (bounded)
_WRITES: dict[type, bool] = {}
_WRITES_LIMIT = 1024


class BufferGuard:
    """The model's buffers before a trace (see the module); :meth:`restore` after it."""

    def __init__(self, tree: ModuleTree, cls: type) -> None:
        self.cls, self.tree = cls, tree
        self.buffers = buffers = [b for b in tree.buffers if b is not None]
        self.versions = versions(buffers)
        self.copies: dict[int, Tensor] | None = None
        if _WRITES.get(cls, True):  # (not traced yet, or a class whose traces write)
            with torch.no_grad():
                self.copies = {id(b): b.detach().clone() for b in buffers if not b.is_meta}

    def restore(self) -> list[str]:
        """Put back the values of each buffer whose counter moved (from the copies); the
        names of the buffers that moved where there were no copies (their values may have
        changed)."""
        now = versions(self.buffers)
        moved = (
            []
            if now == self.versions
            else [b for b, v, w in zip(self.buffers, self.versions, now, strict=True) if v != w]
        )
        if len(_WRITES) >= _WRITES_LIMIT:
            _WRITES.clear()
        _WRITES[self.cls] = bool(moved)
        if not moved or self.copies is None:
            return self._names(moved)
        with torch.no_grad():
            for b in moved:
                copy = self.copies.get(id(b))
                if copy is not None and not torch.equal(b, copy):
                    b.data.copy_(copy)
        return []

    def _names(self, moved: list[Tensor]) -> list[str]:
        """The paths of ``moved`` (``named_buffers()``'s names, each once)."""
        if not moved:  # (the usual answer: no walk of the modules for it)
            return []
        ids = {id(b) for b in moved}
        found = {
            id(b): f"{path}.{name}" if path else name
            for path, m in reversed(self.tree.modules)
            for name, b in m._buffers.items()
            if id(b) in ids
        }
        return list(dict.fromkeys(found[id(b)] for b in moved))
