"""Wall-clock schedules: fire times as Unix timestamps.

The plain interval loop needs none of this: it runs on the event loop's
monotonic clock. A task with a lock or a cron expression fires at wall-clock
times that every process computes alike; these objects say which.
"""

from __future__ import annotations

import math
from typing import Protocol

import attrs

__all__ = ["Grid", "Schedule", "catch_up"]

# Counting the fire times a suspend or an overrun passed over stops here: a
# per-second schedule after a day's suspend must not spin for a second.
_MAX_COUNTED = 1000


class Schedule(Protocol):
    """Fire times on the wall clock."""

    def first(self, now: float, delay: float) -> float:
        """The first fire time for a loop starting at `now` with `wait_first` `delay`."""

    def after(self, at: float) -> float:
        """The first fire time strictly after `at`."""

    def latest(self, at: float) -> float:
        """The last fire time at or before `at`."""

    def key(self, at: float) -> int:
        """An integer naming the fire time `at`, the same in every process."""


@attrs.frozen
class Grid:
    """Every `period` seconds since the epoch: the ticks of a task with a lock."""

    period: float

    def first(self, now: float, delay: float) -> float:
        # Without a delay, the current period is due at once: a worker that
        # starts late still runs a period nobody has run.
        if delay:
            return math.ceil((now + delay) / self.period) * self.period
        return self.latest(now)

    def after(self, at: float) -> float:
        return (self._index(at) + 1) * self.period

    def latest(self, at: float) -> float:
        return self._index(at) * self.period

    def _index(self, at: float) -> int:
        # Fire times are computed as index * period; the division may land
        # just below the index, which must still count as reached.
        index = math.floor(at / self.period)
        return index + 1 if (index + 1) * self.period <= at else index

    def key(self, at: float) -> int:
        return round(at / self.period)


def catch_up(schedule: Schedule, fire: float, now: float) -> tuple[float, int]:
    """The last fire time at or before `now`, from `fire` on, and how many it passes.

    The count stops at a thousand; beyond, the jump is made without counting.
    """
    passed = 0
    following = schedule.after(fire)
    while following <= now:
        passed += 1
        if passed == _MAX_COUNTED:
            return max(following, schedule.latest(now)), passed
        fire, following = following, schedule.after(following)
    return fire, passed
