"""Checks and conversions of a task's configuration, run once at construction."""

from __future__ import annotations

import logging
import math
import numbers
from datetime import timedelta
from decimal import Decimal
from typing import Any

import attrs

from repeating._callables import check_callable
from repeating._clock import Clock

__all__ = [
    "check_clock",
    "check_hook",
    "check_logger",
    "check_max_repetitions",
    "check_name",
    "check_raise_exceptions",
    "to_seconds",
    "to_wait_first",
]

# Beyond about 31 years, wall-clock timestamps would leave datetime's range.
MAX_SECONDS = 1e9
# Below a microsecond, a period means nothing to an event loop.
MIN_PERIOD = 1e-6


def _as_seconds(value: object, argument: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (timedelta, numbers.Real, Decimal)):
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


def to_seconds(value: float | timedelta) -> float:
    """The period in seconds, from a number or a timedelta."""
    seconds = _as_seconds(value, "seconds")
    if seconds <= 0:
        msg = f"seconds must be > 0, got {value!r}"
        raise ValueError(msg)
    if seconds < MIN_PERIOD:
        msg = f"seconds must be at least {MIN_PERIOD:g}, got {value!r}"
        raise ValueError(msg)
    return seconds


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


def check_max_repetitions(_: object, __: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool):
        msg = f"max_repetitions must be an int or None, got {value!r}"
        raise TypeError(msg)
    if value < 1:
        msg = f"max_repetitions must be >= 1, got {value!r}"
        raise ValueError(msg)


def check_logger(_: object, __: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not isinstance(value, logging.Logger):
        msg = f"logger must be a logging.Logger or None, got {value!r}"
        raise TypeError(msg)


def check_raise_exceptions(_: object, __: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, bool):
        msg = f"raise_exceptions must be a bool, got {value!r}"
        raise TypeError(msg)


def check_hook(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """on_complete takes no argument, on_exception takes the exception."""
    if value is not None:
        argument = attribute.name.lstrip("_")
        check_callable(value, argument=argument, n_args=1 if argument == "on_exception" else 0)


def check_name(_: object, __: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str):
        msg = f"name must be a str, got {value!r}"
        raise TypeError(msg)
    if not value:
        msg = "name must not be empty"
        raise ValueError(msg)


def check_clock(_: object, __: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not isinstance(value, Clock):
        msg = f"clock must provide time(), sleep_until() and attach(), got {value!r}"
        raise TypeError(msg)
