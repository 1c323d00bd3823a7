"""Cron schedules, computed by `cronsim` (the `repeating[cron]` extra).

cronsim was chosen for its daylight-saving rules, which are Debian cron's:
a job at a fixed local time runs once on both transition days, and a job with
a wildcard minute or hour follows real time. It works with `zoneinfo`.
"""

from __future__ import annotations

import math
import time
from datetime import datetime, timezone, tzinfo

import attrs

try:
    from cronsim import CronSim, CronSimError
except ImportError as exc:  # pragma: no cover - depends on the environment
    msg = "cron schedules need the cron extra: pip install 'repeating[cron]'"
    raise ImportError(msg) from exc

__all__ = ["Cron"]


# The nicknames of Debian cron and croniter, but @reboot, which is no schedule.
_NICKNAMES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


def _expand(expression: str) -> str:
    return _NICKNAMES.get(expression.strip(), expression)


@attrs.frozen
class Cron:
    """A cron expression in a time zone; fire times as Unix timestamps."""

    expression: str = attrs.field(converter=_expand)
    tz: tzinfo = timezone.utc

    def __attrs_post_init__(self) -> None:
        try:
            self.after(time.time())  # also refuses an expression that never fires
        except CronSimError as exc:
            msg = f"cron expression {self.expression!r} is invalid: {exc}"
            if self.expression.startswith("@"):
                msg += f"; the nicknames are {', '.join(_NICKNAMES)}"
            raise ValueError(msg) from None

    def first(self, now: float, delay: float) -> float:
        return self.after(now + delay)

    def after(self, at: float) -> float:
        fires = CronSim(self.expression, datetime.fromtimestamp(at, self.tz))
        try:
            fire = next(fires).timestamp()
            # In the hour repeated at the fall-back transition, a fixed-time job
            # maps to the first occurrence, which may lie before `at`: it ran.
            while fire <= at:
                fire = next(fires).timestamp()
        except StopIteration:
            msg = f"cron expression {self.expression!r} has no fire time within 50 years"
            raise ValueError(msg) from None
        return fire

    def latest(self, at: float) -> float:
        fires = CronSim(self.expression, datetime.fromtimestamp(at, self.tz), reverse=True)
        try:
            latest = next(fires).timestamp()
        except StopIteration:
            return -math.inf
        # cronsim steps back before it matches: `at` itself may be a fire time.
        following = self.after(latest)
        return following if following <= at else latest

    def key(self, at: float) -> int:
        return round(at)
