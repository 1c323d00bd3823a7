"""Deterministic time for testing periodic tasks.

`VirtualClock` replaces the event loop's clock for the tasks it is given to.
Time moves only when the test calls `advance()`, which wakes every sleeper due
on the way, in order, and waits until each task on the clock has reached its
next sleep before moving on. Runs that take virtual time call `clock.sleep()`.

    clock = VirtualClock()
    task = RepeatedTask(func=purge, seconds=60, clock=clock)
    task.start()
    await clock.advance(180)
    assert task.count == 4      # runs at 0, 60, 120 and 180
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
from datetime import datetime

import attrs

from repeating._clock import Clock

__all__ = ["Clock", "VirtualClock"]

# Real-time spins before a settling clock starts yielding with real sleeps, so
# that runs in worker threads get the time they need.
_FAST_SPINS = 50
_REAL_NAP = 0.001


def _finite(value: object, argument: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        msg = f"{argument} must be a number of seconds, got {value!r}"
        raise TypeError(msg)
    if not math.isfinite(value):
        msg = f"{argument} must be finite, got {value!r}"
        raise ValueError(msg)
    return float(value)


# Wall-clock schedules turn the clock's time into datetimes: it must stay
# within years 1970 to 3000.
_LAST_START = 32503680000.0


def _to_start(value: float | datetime) -> float:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            msg = f"start must be a timezone-aware datetime or a timestamp, got {value!r}"
            raise ValueError(msg)
        start = value.timestamp()
    else:
        try:
            start = _finite(value, "start")
        except OverflowError:
            start = math.inf
    if not 0 <= start <= _LAST_START:
        msg = f"start must be from 1970 to 3000 (0 to {_LAST_START:.0f} s), got {value!r}"
        raise ValueError(msg)
    return start


def _check_timeout(_: object, __: attrs.Attribute[float], value: object) -> None:
    if _finite(value, "settle_timeout") <= 0:
        msg = f"settle_timeout must be > 0, got {value!r}"
        raise ValueError(msg)


@attrs.define(eq=False)
class VirtualClock:
    """A clock whose time moves only when `advance()` says so.

    `start` is where time begins: 0 by default, or a Unix timestamp or an
    aware datetime. Schedules that follow the wall clock (cron, and tasks with
    a lock) read the clock's time as the Unix time, so a cron test starts the
    clock at the date it wants to see.

    `settle_timeout` bounds, in real seconds, how long `advance()` waits for a
    task on this clock to reach its next sleep (a run blocked on something
    only the test can release would otherwise hang the test).

    Keyword Args:
        start (float | datetime): The initial time: a Unix timestamp or an
            aware datetime, from 1970 to 3000. Defaults to 0.
        settle_timeout (float): Real seconds; defaults to 5.

    Added in version 0.1.
    """

    settle_timeout: float = attrs.field(default=5.0, kw_only=True, validator=_check_timeout)
    """Real seconds `advance()` waits for a task to settle before it raises RuntimeError."""
    # Converted once, at construction: advance() may take time past year 3000.
    _now: float = attrs.field(
        default=0.0,
        kw_only=True,
        alias="start",
        converter=_to_start,
        on_setattr=attrs.setters.NO_OP,
    )
    _timers: list[tuple[float, int, asyncio.Future[None]]] = attrs.field(
        factory=list, init=False, repr=False
    )
    _order: itertools.count[int] = attrs.field(factory=itertools.count, init=False, repr=False)
    _tasks: set[asyncio.Task[None]] = attrs.field(factory=set, init=False, repr=False)
    _sleeping: dict[asyncio.Task[object], asyncio.Future[None]] = attrs.field(
        factory=dict, init=False, repr=False
    )

    def time(self) -> float:
        """The virtual time, in seconds; it starts at `start` (0 by default)."""
        return self._now

    async def sleep_until(self, deadline: float) -> None:
        """Wait until the virtual time reaches `deadline` (`math.inf`: until cancelled)."""
        if math.isnan(deadline):
            msg = "deadline must not be NaN"
            raise ValueError(msg)
        if deadline <= self._now:
            await asyncio.sleep(0)
            return
        future = asyncio.get_running_loop().create_future()
        heapq.heappush(self._timers, (deadline, next(self._order), future))
        task = asyncio.current_task()
        if task is not None:
            self._sleeping[task] = future
        try:
            await future
        finally:
            if task is not None and self._sleeping.get(task) is future:
                del self._sleeping[task]

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` of virtual time: how a simulated run takes time."""
        await self.sleep_until(self._now + _finite(seconds, "seconds"))

    def attach(self, task: asyncio.Task[None]) -> None:
        """Make `advance()` wait for `task` to settle (called by `start()`)."""
        self._tasks.add(task)

    async def advance(self, seconds: float = 0.0) -> None:
        """Move time forward by `seconds`, running everything due on the way.

        `advance()` with no argument lets the tasks on the clock settle
        without moving time.
        """
        if _finite(seconds, "seconds") < 0:
            msg = f"seconds must be >= 0, got {seconds!r}"
            raise ValueError(msg)
        target = self._now + seconds
        await self._settle()
        while self._timers and self._timers[0][0] <= target:
            self._now = max(self._now, self._timers[0][0])
            while self._timers and self._timers[0][0] <= self._now:
                _, _, future = heapq.heappop(self._timers)
                if not future.done():
                    future.set_result(None)
            self._sleeping = {t: f for t, f in self._sleeping.items() if not f.done()}
            await self._settle()
        self._now = target

    async def _settle(self) -> None:
        # The loop's clock, not time.monotonic: freezegun may have frozen that.
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self.settle_timeout
        spins = 0
        while True:
            await asyncio.sleep(0)
            self._tasks = {task for task in self._tasks if not task.done()}
            # A task whose sleep ended (or was cancelled) has yet to react to it.
            busy = [
                task
                for task in self._tasks
                if task not in self._sleeping or self._sleeping[task].done()
            ]
            if not busy:
                return
            spins += 1
            if spins < _FAST_SPINS:
                continue
            if loop.time() > give_up:
                names = ", ".join(sorted(task.get_name() for task in busy))
                msg = (
                    f"VirtualClock: {names} did not reach its next sleep within "
                    f"{self.settle_timeout} s of real time; is a run waiting for "
                    "something only the test can release?"
                )
                raise RuntimeError(msg)
            await asyncio.sleep(_REAL_NAP)
