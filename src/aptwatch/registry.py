"""Explicit registries: a named list of plug-ins (sources, detectors, engines, exporters).

Adding a plug-in is one file plus one line in the registry's list. Names are unique: a
duplicate is a programming error and raises at import time, so it can never ship.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Generic, Protocol, TypeVar


class Named(Protocol):
    @property
    def name(self) -> str: ...


T = TypeVar("T", bound=Named)


class Registry(Generic[T]):
    """An ordered, immutable mapping name -> plug-in."""

    def __init__(self, kind: str, items: Iterable[T]) -> None:
        from aptwatch.errors import RegistryError

        self.kind = kind
        self._items: dict[str, T] = {}
        for item in items:
            name = item.name
            if not name or not isinstance(name, str):
                raise RegistryError(f"{kind} registry: entry {item!r} has no name")
            if name in self._items:
                raise RegistryError(f"{kind} registry: duplicate name {name!r}")
            self._items[name] = item

    def __getitem__(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(self._items) or "none"
            raise KeyError(f"unknown {self.kind} {name!r}; known: {known}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[T]:
        return iter(self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def names(self) -> list[str]:
        return list(self._items)
