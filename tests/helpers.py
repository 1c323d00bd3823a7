"""Small helpers shared by the tests."""

from __future__ import annotations

import asyncio

from repeating.testing import VirtualClock

_LOOPS = {"RepeatedTask._loop", "RepeatedTask._scheduled_loop"}


def our_pending_tasks() -> list[asyncio.Task[object]]:
    """The asyncio tasks running a RepeatedTask loop that have not finished."""
    return [
        task
        for task in asyncio.all_tasks()
        if getattr(task.get_coro(), "__qualname__", "") in _LOOPS and not task.done()
    ]


class Recorder:
    """Records the virtual time at which each run starts."""

    def __init__(self, clock: VirtualClock, *, duration: float = 0.0) -> None:
        self.clock = clock
        self.duration = duration
        self.starts: list[float] = []
        self.active = 0
        self.max_active = 0

    async def __call__(self) -> None:
        self.starts.append(self.clock.time())
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            if self.duration:
                await self.clock.sleep(self.duration)
        finally:
            self.active -= 1
