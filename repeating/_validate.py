"""Checks and conversions of a task's configuration, run once at construction."""

from __future__ import annotations

import logging
import math
import numbers
import os
from datetime import datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from repeating._callables import check_callable
from repeating._clock import Clock
from repeating.locks import Lock

__all__ = [
    "cron_options",
    "name",
    "options",
    "schedule_options",
    "to_seconds",
    "to_timeout",
    "to_tz",
    "to_wait_first",
]

# Beyond about 31 years, wall-clock timestamps would leave datetime's range.
MAX_SECONDS = 1e9
# Below a microsecond, a period means nothing to an event loop.
MIN_PERIOD = 1e-6
# A wall-clock grid needs periods that Unix timestamps can still tell apart.
MIN_LOCKED_PERIOD = 1e-3


def _as_seconds(value: object, argument: str) -> float:
    # `type(value) is not float` first: most periods are floats, and the ABC
    # check of numbers.Real is the slow part of constructing a task.
    if type(value) is not float and (
        isinstance(value, bool) or not isinstance(value, (timedelta, numbers.Real, Decimal))
    ):
        msg = f"{argument} must be a number of seconds or a timedelta, got {value!r}"
        raise TypeError(msg)
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    else:
        try:
            seconds = float(value)
        except OverflowError:
            seconds = math.inf
    if not math.isfinite(seconds) or seconds > MAX_SECONDS:
        msg = f"{argument} must be finite and at most {MAX_SECONDS:g} s, got {value!r}"
        raise ValueError(msg)
    return seconds


def to_seconds(value: float | timedelta | None) -> float | None:
    """The period in seconds, from a number or a timedelta; None for a cron schedule."""
    if value is None:
        return None
    seconds = _as_seconds(value, "seconds")
    if seconds <= 0:
        msg = f"seconds must be > 0, got {value!r}"
        raise ValueError(msg)
    if seconds < MIN_PERIOD:
        msg = f"seconds must be at least {MIN_PERIOD:g}, got {value!r}"
        raise ValueError(msg)
    return seconds


def to_timeout(value: float | timedelta | None) -> float | None:
    """The per-run timeout in seconds, or None for none."""
    if value is None:
        return None
    seconds = _as_seconds(value, "timeout")
    if seconds <= 0:
        msg = f"timeout must be > 0 seconds, or None for no timeout; got {value!r}"
        raise ValueError(msg)
    return seconds


def to_tz(value: object) -> tzinfo:
    """A time zone from an IANA name such as "Europe/Berlin", "local", or a tzinfo."""
    if isinstance(value, tzinfo):
        if hasattr(value, "localize"):
            # pytz zones give wrong offsets unless every datetime is localize()d.
            msg = (
                f"tz: pytz time zones are not supported, got {value!r}; pass the zone's "
                "name (tz='Europe/Berlin') or a zoneinfo.ZoneInfo"
            )
            raise TypeError(msg)
        try:
            datetime.now(value)
        except Exception as exc:
            msg = f"tz must be a working tzinfo, got {value!r} ({type(exc).__name__})"
            raise ValueError(msg) from exc
        return value
    if not isinstance(value, str):
        msg = f"tz must be a time zone name or a tzinfo, got {value!r}"
        raise TypeError(msg)
    if value == "local":
        return _local_zone()
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        # OSError: a directory of the database ("Europe"), or too long a name.
        msg = (
            f"tz must name a time zone of the IANA database such as 'Europe/Berlin', got {value!r}"
        )
        raise ValueError(msg) from exc


def _local_zone() -> tzinfo:
    """The system's time zone, with its daylight-saving rules, as the C library finds it.

    $TZ (a zone name, or a path to a zone file), else /etc/localtime, else UTC.
    Not `datetime.now().astimezone().tzinfo`, a fixed offset that knows no
    daylight saving time.
    """
    name = os.environ.get("TZ", "").removeprefix(":")
    if name.startswith("/"):
        return _zone_file(name, f"TZ={name!r}")
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
            msg = (
                f"tz='local': TZ={name!r} does not name a time zone of the IANA database "
                "(POSIX rules such as 'JST-9' are not supported: name the zone, 'Asia/Tokyo')"
            )
            raise ValueError(msg) from exc
    if not os.path.exists("/etc/localtime"):
        return timezone.utc  # as the C library does without a configured zone
    return _zone_file("/etc/localtime", "/etc/localtime")


def _zone_file(path: str, what: str) -> tzinfo:
    try:
        with open(path, "rb") as file:
            return ZoneInfo.from_file(file, key=path)
    except (OSError, ValueError) as exc:
        msg = f"tz='local': {what} is not a readable zone file ({exc})"
        raise ValueError(msg) from exc


def cron_options(
    *, cron: object, wait_first: bool | float, fixed_delay: object, jitter: object
) -> None:
    """Refuse a cron that is not text, and the interval options that mean nothing to it."""
    if not isinstance(cron, str):
        msg = f"cron must be a str such as '0 3 * * *', got {cron!r}"
        raise TypeError(msg)
    if wait_first is True:
        msg = (
            "wait_first=True has no meaning with cron: the first run is the first fire "
            "time; pass a number of seconds to skip fire times right after start"
        )
        raise ValueError(msg)
    if fixed_delay is not False:
        msg = f"fixed_delay applies to seconds= schedules only, got fixed_delay={fixed_delay!r}"
        raise ValueError(msg)
    if jitter != 0:
        msg = f"jitter applies to seconds= schedules only, got jitter={jitter!r}"
        raise ValueError(msg)


def to_wait_first(value: bool | float | timedelta | None) -> bool | float:
    """A bool, or the delay in seconds; None (fastapi-utils' default since 0.7) is False."""
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    seconds = _as_seconds(value, "wait_first")
    if seconds < 0:
        msg = f"wait_first must be >= 0, got {value!r}"
        raise ValueError(msg)
    return seconds


def options(
    *,
    max_repetitions: object,
    logger: object,
    raise_exceptions: object,
    on_complete: object,
    on_exception: object,
    clock: object,
    lock: object,
) -> None:
    """Refuse bad values of the options that need no conversion."""
    if max_repetitions is not None:
        if not isinstance(max_repetitions, int) or isinstance(max_repetitions, bool):
            msg = f"max_repetitions must be an int or None, got {max_repetitions!r}"
            raise TypeError(msg)
        if max_repetitions < 1:
            msg = f"max_repetitions must be >= 1, got {max_repetitions!r}"
            raise ValueError(msg)
    if logger is not None and not isinstance(logger, logging.Logger):
        msg = f"logger must be a logging.Logger or None, got {logger!r}"
        raise TypeError(msg)
    if not isinstance(raise_exceptions, bool):
        msg = f"raise_exceptions must be a bool, got {raise_exceptions!r}"
        raise TypeError(msg)
    if on_complete is not None:
        check_callable(on_complete, argument="on_complete", n_args=0)
    if on_exception is not None:
        check_callable(on_exception, argument="on_exception", n_args=1)
    if clock is not None and not isinstance(clock, Clock):
        msg = f"clock must provide time(), sleep_until() and attach(), got {clock!r}"
        raise TypeError(msg)
    if lock is not None and not isinstance(lock, Lock):
        msg = f"lock must provide claim(), got {lock!r}"
        raise TypeError(msg)


def name(value: object) -> None:
    """Refuse a name that is not printable text of 1 to 200 characters.

    Names key logs, status routes and coordination backends (file names,
    Redis keys, PostgreSQL rows), all of which take such names.
    """
    if not isinstance(value, str):
        msg = f"name must be a str, got {value!r}"
        raise TypeError(msg)
    if not value:
        msg = "name must not be empty"
        raise ValueError(msg)
    if len(value) > 200 or not value.isprintable():
        msg = f"name must be printable and at most 200 characters, got {value[:60]!r}"
        raise ValueError(msg)


def schedule_options(*, seconds: float, fixed_delay: object, jitter: object, lock: object) -> None:
    """Refuse bad values of fixed_delay and jitter, and combinations a lock cannot keep."""
    if not isinstance(fixed_delay, bool):
        msg = f"fixed_delay must be a bool, got {fixed_delay!r}"
        raise TypeError(msg)
    if isinstance(jitter, bool) or not isinstance(jitter, (int, float)):
        msg = f"jitter must be a number of seconds, got {jitter!r}"
        raise TypeError(msg)
    if not math.isfinite(jitter) or not 0 <= jitter < seconds:
        msg = f"jitter must be >= 0 and smaller than seconds ({seconds:g}), got {jitter!r}"
        raise ValueError(msg)
    if lock is not None and seconds < MIN_LOCKED_PERIOD:
        msg = (
            f"seconds must be at least {MIN_LOCKED_PERIOD:g} with lock=, got {seconds!r}: "
            "locked ticks are wall-clock timestamps, and claims take a round trip"
        )
        raise ValueError(msg)
    if lock is not None and (fixed_delay or jitter):
        msg = (
            "fixed_delay and jitter cannot be combined with lock: locked ticks sit on a shared grid"
        )
        raise ValueError(msg)
