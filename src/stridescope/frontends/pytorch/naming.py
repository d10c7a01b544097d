"""Node names of one trace: module paths, and ``<path>.<function>`` for a function called
inside a module's forward, made unique with ``_1``, ``_2``... (a base of the tracer)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stridescope.ir import GraphBuilder

__all__ = ["Naming", "spelling"]


class Naming:
    """The names given so far (:attr:`names`: per base, the last suffix used) and the module
    paths of the forwards running (:attr:`scope`, innermost last)."""

    names: dict[str, int]
    scope: list[str]
    outside: dict[int, tuple[str, Any]]  # modules called that are not in the model's tree
    paths: Mapping[int, str]  # the model's modules' paths, by id
    builder: GraphBuilder

    def unique(self, base: str) -> str:
        """``base``, or ``base_1``, ``base_2``... when it was used before."""
        seen = self.names.get(base)
        if seen is None:
            self.names[base] = 0
            return base
        while True:
            seen += 1
            candidate = f"{base}_{seen}"
            if candidate not in self.names:
                self.names[base] = seen
                self.names[candidate] = 0
                return candidate

    def again(self, module: Any, name: str, out: Any) -> Any:
        """A layer with a window called again (named ``<path>_1``...: a max pool): its node
        names the layer in ``shares``, as a conv's second call does (``fix`` swaps it where it
        is first called, and the later call with it), unless the handler named it already;
        returns ``out``."""
        path = self.paths.get(id(module))
        if path and name != path and type(out).__name__ == "ShapeProxy":
            node = self.builder._nodes[out.node]
            if node.window is not None and not node.shares and not node.params:
                self.builder.shared(out.node, path)  # (a window fix may swap: a pool)
        return out

    def forget(self, name: str) -> None:
        """Undo the :meth:`unique` or :meth:`scoped` call that gave ``name`` last (its node
        was dropped), so it is given again."""
        base, _, suffix = name.rpartition("_")
        if base and suffix.isdigit() and self.names.get(base) == int(suffix):
            self.names[base] = int(suffix) - 1
        if self.names.get(name) == 0:
            del self.names[name]

    def scoped(self, base: str) -> str:
        """``<module path>.<base>`` for a function called inside a module's forward (made
        unique by :meth:`unique`; a name not used before, the usual case, without its call)."""
        path = self.scope[-1]
        name = f"{path}.{base}" if path else base
        names = self.names
        if name in names:
            return self.unique(name)
        names[name] = 0
        return name

    def _unlisted(self, module: Any) -> str:
        """The path of a module made inside a forward, or kept outside the module tree (one
        with parameters of its own is kept in :attr:`outside`, for a note)."""
        path = ".".join(p for p in (self.scope[-1], type(module).__name__) if p)
        if module._parameters and id(module) not in self.outside:
            self.outside[id(module)] = (path, module)
        return path


def spelling(func: Any) -> str:
    """How a torch callable is written: ``F.name``, ``torch.fft.name``, ``name``."""
    name = str(getattr(func, "__name__", type(func).__name__))
    module = getattr(func, "__module__", None) or ""
    if module.startswith("torch._ops"):  # an ATen overload: aten.einsum, not einsum.default
        return f"{module.rsplit('.', 1)[-1]}.{getattr(func, '_opname', name)}"
    if module in ("torch.nn.functional", "torch._C._nn"):
        return f"F.{name}"
    if module.startswith("torch._C._"):
        return f"torch.{module.rsplit('._', 1)[-1]}.{name.split('_', 1)[-1]}"
    return name
