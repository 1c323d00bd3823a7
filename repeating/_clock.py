"""The clock a task's schedule runs on."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Protocol, runtime_checkable

__all__ = ["Clock"]


@runtime_checkable
class Clock(Protocol):
    """What a `RepeatedTask` needs from a clock.

    The default is the running event loop's monotonic clock.
    `repeating.testing.VirtualClock` is the one tests use.

    Added in version 0.1.
    """

    def time(self) -> float:
        """Now, in seconds, never going back.

        Interval schedules measure their periods with it. Wall-clock schedules
        (cron, and tasks with a lock) read it as Unix time.
        """

    def sleep_until(self, deadline: float) -> Awaitable[None]:
        """Wait until `time()` has reached `deadline` (`math.inf`: until cancelled)."""

    def attach(self, task: asyncio.Task[None]) -> None:
        """Called with each asyncio task a `RepeatedTask` runs on this clock.

        That is its loop, each time it starts, and with a `timeout`, the
        watchdog of each run, which sleeps on the clock until the deadline.
        """
