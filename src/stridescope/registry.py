"""One explicit registry type for operators, architectures and datasets.

>>> reg: Registry[int] = Registry("number")
>>> @reg.register("one", doc="The number one.")
... def one() -> int:
...     return 1
>>> reg.get("one").factory()
1
>>> reg.get("two")
Traceback (most recent call last):
...
stridescope.errors.UnknownNameError: unknown number 'two'; known: one
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from stridescope.errors import StridescopeError, UnknownNameError

__all__ = ["Entry", "Registry"]

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., object])


@dataclass(frozen=True)
class Entry(Generic[T]):
    """A registered factory with its one-line doc and an optional reference."""

    name: str
    factory: Callable[..., T]
    doc: str
    reference: str = ""


class Registry(Generic[T]):
    """Names mapped to factories; unknown names raise an error listing the known ones."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._entries: dict[str, Entry[T]] = {}

    def register(self, name: str, *, doc: str, reference: str = "") -> Callable[[F], F]:
        def decorate(factory: F) -> F:
            if name in self._entries:
                raise StridescopeError(f"{self.what} {name!r} is registered twice")
            self._entries[name] = Entry(name, factory, doc, reference)  # type: ignore[arg-type]
            return factory

        return decorate

    def get(self, name: str) -> Entry[T]:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(self.what, name, self._entries) from None

    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Entry[T]]:
        return iter(self._entries.values())
