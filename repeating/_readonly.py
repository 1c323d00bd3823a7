"""A public, read-only view of a private attribute."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any, Generic, TypeVar, overload

__all__ = ["ReadOnly"]

_V = TypeVar("_V")


class ReadOnly(Generic[_V]):
    """`seconds = ReadOnly[float]()` exposes `self._seconds`; assigning to it raises.

    `of="_state"` reads `self._state.<name>` instead. `setting=True` marks
    configuration, whose error message says how to change it.

    Configuration stays read-only without attrs `on_setattr` hooks, which
    would turn every assignment on the loop's hot path into a Python call.
    """

    __slots__ = ("_get", "_name", "_of", "_setting")

    def __init__(self, *, of: str = "", setting: bool = False) -> None:
        self._of = of
        self._setting = setting

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name
        path = f"{self._of}.{name}" if self._of else f"_{name}"
        self._get: Callable[[object], Any] = operator.attrgetter(path)

    @overload
    def __get__(self, obj: None, owner: type) -> ReadOnly[_V]: ...

    @overload
    def __get__(self, obj: object, owner: type) -> _V: ...

    def __get__(self, obj: object, owner: type) -> ReadOnly[_V] | _V:
        if obj is None:
            return self
        value: _V = self._get(obj)
        return value

    def __set__(self, obj: object, value: object) -> None:
        msg = f"{self._name} is read-only"
        if self._setting:
            msg += f"; attrs.evolve(task, {self._name}=...) makes a changed copy"
        raise AttributeError(msg)
