"""`repeat_every` and `repeat_at`: the decorators of fastapi-utils and fastapi-utilities."""

from __future__ import annotations

import functools
import logging
import weakref
from collections.abc import Callable, Coroutine
from datetime import timedelta, tzinfo
from typing import Any

import attrs

from repeating._clock import Clock
from repeating._task import RepeatedTask
from repeating.locks import Lock

__all__ = ["is_starter", "repeat_at", "repeat_every"]

_Starter = Callable[[], Coroutine[Any, Any, RepeatedTask]]
_SyncStarter = Callable[[], RepeatedTask]

# The functions the decorators made, so that Tasks.add() can refuse a plain
# function someone forgot to decorate. Weak: it keeps none of them alive.
_MADE: weakref.WeakSet[Callable[[], object]] = weakref.WeakSet()


def is_starter(obj: object) -> bool:
    """Whether `obj` is a function made by `repeat_every` or `repeat_at`."""
    try:
        return obj in _MADE
    except TypeError:  # not weak-referenceable: not ours
        return False


def repeat_every(
    *,
    seconds: float | timedelta,
    wait_first: bool | float | None = False,
    max_repetitions: int | None = None,
    logger: logging.Logger | None = None,
    raise_exceptions: bool = False,
    on_complete: Callable[[], object] | None = None,
    on_exception: Callable[[Exception], object] | None = None,
    name: str | None = None,
    clock: Clock | None = None,
    lock: Lock | None = None,
    fixed_delay: bool = False,
    jitter: float = 0.0,
    timeout: float | timedelta | None = None,
) -> Callable[[Callable[[], object]], Callable[[], Coroutine[Any, Any, RepeatedTask]]]:
    """Turn a zero-argument function into an async starter of a `RepeatedTask`.

    Awaiting the decorated function builds a `RepeatedTask` with these options,
    starts it and returns it at once, without waiting for any run; so it stacks
    under `@app.on_event("startup")` as `fastapi_utils.tasks.repeat_every`
    does, and works in a FastAPI lifespan. Each await starts a new task.

    Options are validated when decorating; decorating needs no event loop.

    Args:
        seconds: The period, as seconds or a `timedelta`.
        wait_first: False or None: the first run at once; True: after one
            period; a number or `timedelta`: after that long.
        max_repetitions: The number of runs after which the loop ends.
        logger: Where failures are logged; the `repeating` logger by default.
        raise_exceptions: End the loop at the first failure and re-raise it
            from `join()`.
        on_complete: Called once when `max_repetitions` is reached.
        on_exception: Called with each failure's exception.
        name: The task's name; the function's qualified name by default.
        clock: The clock of the schedule; `repeating.testing.VirtualClock` in tests.
        lock: A coordination backend: each tick runs in one process only.
        fixed_delay: Count each period from the end of the previous run.
        jitter: Start each run up to this many seconds after its tick, at random.
        timeout: Cancel a run after this many seconds; it fails with `TimeoutError`.

    Returns:
        A decorator. The decorated function, awaited, starts a `RepeatedTask`
            and returns it.

    Raises:
        TypeError: A mistyped argument, or a function that cannot be called
            without arguments.
        ValueError: A value out of range.

    Added in version 0.1.
    """

    def decorate(func: Callable[[], object]) -> _Starter:
        # Built now so that bad options fail at decoration, not at startup.
        return _async_starter(
            RepeatedTask(
                func=func,
                seconds=seconds,
                wait_first=wait_first,
                max_repetitions=max_repetitions,
                logger=logger,
                raise_exceptions=raise_exceptions,
                on_complete=on_complete,
                on_exception=on_exception,
                name=name,
                clock=clock,
                lock=lock,
                fixed_delay=fixed_delay,
                jitter=jitter,
                timeout=timeout,
            )
        )

    return decorate


def repeat_at(
    *,
    cron: str,
    tz: str | tzinfo = "UTC",
    wait_first: float | timedelta | None = None,
    max_repetitions: int | None = None,
    logger: logging.Logger | None = None,
    raise_exceptions: bool = False,
    on_complete: Callable[[], object] | None = None,
    on_exception: Callable[[Exception], object] | None = None,
    name: str | None = None,
    clock: Clock | None = None,
    lock: Lock | None = None,
    timeout: float | timedelta | None = None,
) -> Callable[[Callable[[], object]], Callable[[], RepeatedTask]]:
    """`repeat_every` for a cron schedule, replacing `fastapi_utilities.repeat_at`.

    As with fastapi-utilities, *calling* the decorated function (no `await`)
    starts a `RepeatedTask` and returns it; it needs a running event loop, so
    call it from a startup handler or a lifespan. Each call starts a new task.

    The expression is read in `tz`, UTC unless given; `tz="local"` is the
    server's local time zone, which fastapi-utilities uses. It has five fields,
    or an `@daily`-style nickname: fastapi-utilities (croniter) reads a sixth
    field as seconds at the end, cronsim at the start, so six fields are
    refused here rather than silently read differently. Needs the
    `repeating[cron]` extra.

    Args:
        cron: A cron expression of five fields, or a nickname such as `@daily`.
        tz: The time zone of `cron`, an IANA name or a `tzinfo`.
        wait_first: Seconds after start during which fire times are skipped.
        max_repetitions: The number of runs after which the loop ends.
        logger: Where failures are logged; the `repeating` logger by default.
        raise_exceptions: End the loop at the first failure and re-raise it
            from `join()`.
        on_complete: Called once when `max_repetitions` is reached.
        on_exception: Called with each failure's exception.
        name: The task's name; the function's qualified name by default.
        clock: The clock of the schedule, read as Unix time.
        lock: A coordination backend: each fire time runs in one process only.
        timeout: Cancel a run after this many seconds; it fails with `TimeoutError`.

    Returns:
        A decorator. The decorated function, called, starts a `RepeatedTask`
            and returns it.

    Raises:
        ValueError: An invalid expression or time zone, a six-field
            expression, or a value out of range.
        TypeError: A mistyped argument.

    Added in version 0.1.
    """

    if isinstance(cron, str) and len(cron.split()) == 6:
        msg = (
            f"repeat_at takes five fields or a nickname such as '@daily', got {cron!r}: "
            "fastapi-utilities reads a sixth field as seconds at the end, repeating at "
            "the start. For seconds, use RepeatedTask(cron='S M H DOM MON DOW')"
        )
        raise ValueError(msg)

    def decorate(func: Callable[[], object]) -> _SyncStarter:
        return _sync_starter(
            RepeatedTask(
                func=func,
                cron=cron,
                tz=tz,
                wait_first=wait_first,
                max_repetitions=max_repetitions,
                logger=logger,
                raise_exceptions=raise_exceptions,
                on_complete=on_complete,
                on_exception=on_exception,
                name=name,
                clock=clock,
                lock=lock,
                timeout=timeout,
            )
        )

    return decorate


def _started_copy(template: RepeatedTask) -> RepeatedTask:
    task = attrs.evolve(template)
    task.start()
    return task


def _async_starter(template: RepeatedTask) -> _Starter:
    assert template.func is not None

    @functools.wraps(template.func)
    async def start() -> RepeatedTask:
        return _started_copy(template)

    _MADE.add(start)
    return start


def _sync_starter(template: RepeatedTask) -> _SyncStarter:
    assert template.func is not None

    @functools.wraps(template.func)
    def start() -> RepeatedTask:
        return _started_copy(template)

    _MADE.add(start)
    return start
