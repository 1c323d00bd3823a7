"""The clock a task's schedule runs on."""

from __future__ import annotations

import asyncio
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "LoopClock"]


@runtime_checkable
class Clock(Protocol):
    """What a `RepeatedTask` needs from a clock.

    The default is the running event loop's monotonic clock.
    `repeating.testing.VirtualClock` is the one tests use.
    """

    def time(self) -> float:
        """Now, in seconds, on a monotonic scale."""

    async def sleep_until(self, deadline: float) -> None:
        """Return once `time()` has reached `deadline`."""

    def attach(self, task: asyncio.Task[None]) -> None:
        """Called once each time a `RepeatedTask` starts its loop on this clock."""


class LoopClock:
    """The running event loop's own clock: `loop.time()` and `asyncio.sleep`."""

    __slots__ = ("_loop",)

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def time(self) -> float:
        return self._loop.time()

    async def sleep_until(self, deadline: float) -> None:
        await asyncio.sleep(deadline - self._loop.time())

    def attach(self, task: asyncio.Task[None]) -> None:
        pass
