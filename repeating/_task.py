"""`RepeatedTask`: one function, one schedule, one asyncio task."""

from __future__ import annotations

import asyncio
import logging
import math
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from types import TracebackType
from typing import Any, ParamSpec, TypeVar

import attrs

from repeating._callables import check_callable, make_caller, qualname
from repeating._clock import Clock, LoopClock

__all__ = ["RepeatedTask"]

_LOGGER = logging.getLogger("repeating")

# The event loop keeps only weak references to tasks; this set keeps every
# running loop alive even when the caller drops the RepeatedTask.
_RUNNING: set[asyncio.Task[None]] = set()

_T = TypeVar("_T", bound="RepeatedTask")
_P = ParamSpec("_P")


def _to_seconds(value: float | timedelta) -> float:
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        msg = f"seconds must be a number or a timedelta, got {value!r}"
        raise TypeError(msg)
    if not math.isfinite(seconds) or seconds <= 0:
        msg = f"seconds must be finite and > 0, got {value!r}"
        raise ValueError(msg)
    return seconds


def _check_wait_first(_: object, __: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool):
        return
    if not isinstance(value, (int, float)):
        msg = f"wait_first must be a bool or a number of seconds, got {value!r}"
        raise TypeError(msg)
    if not math.isfinite(value) or value < 0:
        msg = f"wait_first must be a finite number of seconds >= 0, got {value!r}"
        raise ValueError(msg)


def _check_max_repetitions(_: object, __: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool):
        msg = f"max_repetitions must be an int or None, got {value!r}"
        raise TypeError(msg)
    if value < 1:
        msg = f"max_repetitions must be >= 1, got {value!r}"
        raise ValueError(msg)


def _check_hook(n_args: int) -> Callable[[object, attrs.Attribute[Any], Any], None]:
    def check(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if value is not None:
            check_callable(value, argument=attribute.name, n_args=n_args)

    return check


def _check_name(_: object, __: attrs.Attribute[str], value: object) -> None:
    if not isinstance(value, str) or not value:
        msg = f"name must be a non-empty str, got {value!r}"
        raise TypeError(msg)


def _check_clock(_: object, __: attrs.Attribute[Clock | None], value: object) -> None:
    if value is not None and not isinstance(value, Clock):
        msg = f"clock must provide time(), sleep_until() and attach(), got {value!r}"
        raise TypeError(msg)


def _default_name(self: RepeatedTask) -> str:
    if self.func is not None:
        return qualname(self.func)
    return type(self).__qualname__


def _make_call(self: RepeatedTask) -> Callable[[], Awaitable[object]]:
    overridden = type(self).run is not RepeatedTask.run
    if self.func is None and not overridden:
        msg = f"{type(self).__qualname__} needs func=..., or a subclass that overrides run()"
        raise TypeError(msg)
    if self.func is not None and overridden:
        msg = (
            f"{type(self).__qualname__} overrides run(), so it takes no func; "
            f"got func={self.func!r}"
        )
        raise TypeError(msg)
    if self.func is None:
        check_callable(self.run, argument="run", n_args=0)
        return make_caller(self.run)
    check_callable(self.func, argument="func", n_args=0)
    return make_caller(self.func)


def _maybe_caller(
    hook: Callable[_P, object] | None,
) -> Callable[_P, Awaitable[object]] | None:
    return None if hook is None else make_caller(hook)


def _uncancel() -> int:
    """Withdraw one cancellation request from the current task; how many remain."""
    task = asyncio.current_task()
    if task is None or sys.version_info < (3, 11):
        return 0
    return task.uncancel()


def _now() -> datetime:
    return datetime.now(timezone.utc)


@attrs.define(kw_only=True, eq=False)
class RepeatedTask:
    """Runs a function periodically on the event loop, at a fixed rate.

    Pass `func`, or subclass and override `run` (`async def` or plain `def`;
    plain functions run in a worker thread). Configuration is validated here,
    at construction. `start()` begins the loop, `stop()` ends it after the run
    in progress, `cancel()` also cancels an async run in progress, and
    `await join()` waits until the loop has ended.
    """

    func: Callable[[], object] | None = None
    seconds: float = attrs.field(converter=_to_seconds)
    wait_first: bool | float = attrs.field(default=False, validator=_check_wait_first)
    max_repetitions: int | None = attrs.field(default=None, validator=_check_max_repetitions)
    logger: logging.Logger | None = attrs.field(
        default=None,
        validator=attrs.validators.optional(attrs.validators.instance_of(logging.Logger)),
    )
    raise_exceptions: bool = attrs.field(
        default=False, validator=attrs.validators.instance_of(bool)
    )
    on_complete: Callable[[], object] | None = attrs.field(default=None, validator=_check_hook(0))
    on_exception: Callable[[Exception], object] | None = attrs.field(
        default=None, validator=_check_hook(1)
    )
    name: str = attrs.field(
        default=attrs.Factory(_default_name, takes_self=True), validator=_check_name
    )
    clock: Clock | None = attrs.field(default=None, validator=_check_clock)

    count: int = attrs.field(default=0, init=False)
    failures: int = attrs.field(default=0, init=False)
    skipped: int = attrs.field(default=0, init=False)
    last_error: Exception | None = attrs.field(default=None, init=False)
    handle: asyncio.Task[None] | None = attrs.field(default=None, init=False)
    running: bool = attrs.field(default=False, init=False)
    paused: bool = attrs.field(default=False, init=False)
    last_started_at: datetime | None = attrs.field(default=None, init=False)
    last_finished_at: datetime | None = attrs.field(default=None, init=False)
    next_run_at: datetime | None = attrs.field(default=None, init=False)

    _call: Callable[[], Awaitable[object]] = attrs.field(
        init=False, repr=False, default=attrs.Factory(_make_call, takes_self=True)
    )
    _call_on_exception: Callable[[Exception], Awaitable[object]] | None = attrs.field(
        init=False,
        repr=False,
        default=attrs.Factory(lambda self: _maybe_caller(self.on_exception), takes_self=True),
    )
    _call_on_complete: Callable[[], Awaitable[object]] | None = attrs.field(
        init=False,
        repr=False,
        default=attrs.Factory(lambda self: _maybe_caller(self.on_complete), takes_self=True),
    )
    _stopping: bool = attrs.field(default=False, init=False, repr=False)
    _triggered: bool = attrs.field(default=False, init=False, repr=False)
    _waiting: bool = attrs.field(default=False, init=False, repr=False)
    _wake_requested: bool = attrs.field(default=False, init=False, repr=False)
    _cancelled_by_us: bool = attrs.field(default=False, init=False, repr=False)

    def run(self) -> Awaitable[None] | None:
        """What each run does; override it in a subclass, or pass `func`."""
        msg = f"{type(self).__qualname__}.run() is not overridden; pass func=..."
        raise NotImplementedError(msg)

    def start(self) -> None:
        """Start the loop as an asyncio task on the running event loop.

        Returns at once, without waiting for any run.
        """
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            msg = (
                f"task {self.name!r}: start() needs a running event loop; call it "
                "from async code such as a FastAPI lifespan or an async startup handler"
            )
            raise RuntimeError(msg) from None
        if self.running:
            msg = (
                f"task {self.name!r} is already running; call stop() and await "
                "join() before starting it again"
            )
            raise RuntimeError(msg)
        clock = self.clock if self.clock is not None else LoopClock(loop)
        self._stopping = False
        self._triggered = False
        self._waiting = False
        self._wake_requested = False
        self._cancelled_by_us = False
        self.running = True
        handle = loop.create_task(self._loop(clock), name=f"repeating:{self.name}")
        _RUNNING.add(handle)
        handle.add_done_callback(self._on_done)
        self.handle = handle
        clock.attach(handle)

    def stop(self) -> None:
        """Let no new run start. Idempotent.

        A loop waiting for its next run ends at once; a run in progress is
        allowed to finish.
        """
        self._stopping = True
        self._wake()

    def cancel(self) -> None:
        """Stop, and cancel an async run in progress.

        A sync run cannot be interrupted: the loop ends when its thread returns.
        """
        self._stopping = True
        handle = self.handle
        if handle is not None and not handle.done():
            self._cancelled_by_us = True
            handle.cancel()

    def trigger(self) -> None:
        """Run as soon as possible, without moving the schedule.

        A run in progress finishes first (runs never overlap); several triggers
        during one run give one extra run. A paused task runs once and stays
        paused. Raises RuntimeError if the task is not running.
        """
        if not self.running:
            msg = f"task {self.name!r} is not running; start() it before trigger()"
            raise RuntimeError(msg)
        self._triggered = True
        self._wake()

    def pause(self) -> None:
        """Let no scheduled run start until `resume()`. Idempotent.

        A run in progress finishes. The flag survives `stop()` and `start()`.
        """
        self.paused = True
        self._wake()

    def resume(self) -> None:
        """Undo `pause()`: the next run is the schedule's next tick from now.

        The ticks that passed while paused are not run: no burst of catch-up runs.
        """
        self.paused = False
        self._wake()

    @property
    def schedule(self) -> str:
        """The schedule, for people: `every 60s`."""
        return f"every {self.seconds:g}s"

    async def join(self) -> None:
        """Wait until the loop has ended.

        Re-raises the exception that ended it (`raise_exceptions=True`).
        Returns at once if the task was never started.
        """
        handle = self.handle
        if handle is None:
            return
        if handle is asyncio.current_task():
            msg = f"task {self.name!r}: join() from its own run would wait forever"
            raise RuntimeError(msg)
        if not handle.done():
            await asyncio.wait((handle,))
        if handle.cancelled():
            return
        exc = handle.exception()
        if exc is not None:
            raise exc

    async def __aenter__(self: _T) -> _T:
        self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        await self.join()

    def _on_done(self, handle: asyncio.Task[None]) -> None:
        _RUNNING.discard(handle)
        if not handle.cancelled():
            # The loop already reported its exception to the loop's handler;
            # retrieving it keeps asyncio from reporting it again at collection.
            handle.exception()

    async def _loop(self, clock: Clock) -> None:
        call = self._call
        period = self.seconds
        logger = self.logger if self.logger is not None else _LOGGER
        remaining = self.max_repetitions
        if self.wait_first is True:
            first_delay = period
        elif self.wait_first is False:
            first_delay = 0.0
        else:
            first_delay = float(self.wait_first)
        start = clock.time() + first_delay
        tick = 0  # the next regular tick, due at start + tick * period
        try:
            while not self._stopping:
                if self._triggered:
                    # An extra run: the grid stays where it is.
                    self._triggered = False
                elif self.paused:
                    self.next_run_at = None
                    await self._wait(clock, math.inf)
                    # Back on the grid from now, without the ticks missed meanwhile.
                    tick = max(tick, math.ceil((clock.time() - start) / period))
                    continue
                else:
                    due = start + tick * period
                    self.next_run_at = _now() + timedelta(seconds=due - clock.time())
                    if not await self._wait(clock, due):
                        continue
                    tick += 1
                self.next_run_at = None
                self.count += 1
                self.last_started_at = _now()
                try:
                    await call()
                except Exception as exc:
                    self.last_finished_at = _now()
                    await self._failed(exc, logger)
                    if self.raise_exceptions:
                        asyncio.get_running_loop().call_exception_handler(
                            {
                                "message": f"repeated task {self.name!r} ended by "
                                "an exception (raise_exceptions=True)",
                                "exception": exc,
                                "task": self.handle,
                            }
                        )
                        raise
                else:
                    self.last_finished_at = _now()
                if remaining is not None:
                    remaining -= 1
                    if remaining == 0:
                        await self._completed(logger)
                        return
                late = clock.time() - (start + tick * period)
                if late > 0:
                    # Overran: skip the missed ticks rather than burst through them.
                    missed = math.ceil(late / period)
                    tick += missed
                    self.skipped += missed
                    logger.debug(
                        "repeated task %r overran its period; skipped %d tick(s)",
                        self.name,
                        missed,
                    )
        except asyncio.CancelledError:
            if not self._cancelled_by_us:
                raise
        finally:
            self.running = False
            self.next_run_at = None

    async def _wait(self, clock: Clock, deadline: float) -> bool:
        """Sleep until `deadline`; False when woken early by `_wake()`."""
        self._waiting = True
        try:
            await clock.sleep_until(deadline)
        except asyncio.CancelledError:
            if not self._wake_requested:
                raise
            self._wake_requested = False
            if _uncancel() > 0:
                raise  # someone else cancelled us too
            return False
        finally:
            self._waiting = False
        return True

    def _wake(self) -> None:
        # Waking is a cancellation that _wait() recognizes and swallows, so the
        # per-tick sleep needs no Event or wait_for of its own.
        handle = self.handle
        if self._waiting and not self._wake_requested and handle is not None:
            self._wake_requested = True
            handle.cancel()

    async def _failed(self, exc: Exception, logger: logging.Logger) -> None:
        self.failures += 1
        self.last_error = exc
        logger.error("repeated task %r failed (run %d)", self.name, self.count, exc_info=exc)
        if self._call_on_exception is not None:
            await self._hook("on_exception", self._call_on_exception(exc), logger)

    async def _completed(self, logger: logging.Logger) -> None:
        if self._call_on_complete is not None:
            await self._hook("on_complete", self._call_on_complete(), logger)

    async def _hook(self, what: str, call: Awaitable[object], logger: logging.Logger) -> None:
        # A failing hook is logged, never raised: it must not end the loop.
        try:
            await call
        except Exception:
            logger.exception("%s hook of repeated task %r failed", what, self.name)
