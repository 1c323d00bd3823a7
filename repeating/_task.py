"""`RepeatedTask`: one function, one schedule, one asyncio task."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import numbers
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from decimal import Decimal
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
_frozen = attrs.setters.frozen
_P = ParamSpec("_P")


# Beyond about 31 years, wall-clock timestamps would leave datetime's range.
_MAX_SECONDS = 1e9
# Below a microsecond, a period means nothing to an event loop.
_MIN_PERIOD = 1e-6


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
    if not math.isfinite(seconds) or seconds > _MAX_SECONDS:
        msg = f"{argument} must be finite and at most {_MAX_SECONDS:g} s, got {value!r}"
        raise ValueError(msg)
    return seconds


def _to_seconds(value: float | timedelta) -> float:
    seconds = _as_seconds(value, "seconds")
    if seconds <= 0:
        msg = f"seconds must be > 0, got {value!r}"
        raise ValueError(msg)
    if seconds < _MIN_PERIOD:
        msg = f"seconds must be at least {_MIN_PERIOD:g}, got {value!r}"
        raise ValueError(msg)
    return seconds


def _to_wait_first(value: bool | float | timedelta | None) -> bool | float:
    # None is fastapi-utils' default since 0.7, meaning "do not wait".
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    seconds = _as_seconds(value, "wait_first")
    if seconds < 0:
        msg = f"wait_first must be >= 0, got {value!r}"
        raise ValueError(msg)
    return seconds


def _check_max_repetitions(_: object, __: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool):
        msg = f"max_repetitions must be an int or None, got {value!r}"
        raise TypeError(msg)
    if value < 1:
        msg = f"max_repetitions must be >= 1, got {value!r}"
        raise ValueError(msg)


def _check_logger(_: object, __: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not isinstance(value, logging.Logger):
        msg = f"logger must be a logging.Logger or None, got {value!r}"
        raise TypeError(msg)


def _check_raise_exceptions(_: object, __: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, bool):
        msg = f"raise_exceptions must be a bool, got {value!r}"
        raise TypeError(msg)


def _check_hook(n_args: int) -> Callable[[object, attrs.Attribute[Any], Any], None]:
    def check(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if value is not None:
            check_callable(value, argument=attribute.name, n_args=n_args)

    return check


def _check_name(_: object, __: attrs.Attribute[str], value: object) -> None:
    if not isinstance(value, str):
        msg = f"name must be a str, got {value!r}"
        raise TypeError(msg)
    if not value:
        msg = "name must not be empty"
        raise ValueError(msg)


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


if sys.version_info >= (3, 11):

    def _uncancel() -> int:
        """Withdraw one cancellation request from the current task; how many remain."""
        task = asyncio.current_task()
        return 0 if task is None else task.uncancel()

    def _cancelling(task: asyncio.Task[Any]) -> int | None:
        """How many cancellations of `task` are pending."""
        return task.cancelling()

else:  # pragma: no cover - Python 3.10 cannot count cancellations

    def _uncancel() -> int:
        return 0

    def _cancelling(task: asyncio.Task[Any]) -> int | None:
        return None


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

    # Configuration is fixed at construction: the loop and its callers are
    # derived from it once. attrs.evolve() makes a changed copy.
    func: Callable[[], object] | None = attrs.field(default=None, on_setattr=_frozen)
    seconds: float = attrs.field(converter=_to_seconds, on_setattr=_frozen)
    wait_first: bool | float = attrs.field(
        default=False, converter=_to_wait_first, on_setattr=_frozen
    )
    max_repetitions: int | None = attrs.field(
        default=None, validator=_check_max_repetitions, on_setattr=_frozen
    )
    logger: logging.Logger | None = attrs.field(
        default=None, validator=_check_logger, on_setattr=_frozen
    )
    raise_exceptions: bool = attrs.field(
        default=False, validator=_check_raise_exceptions, on_setattr=_frozen
    )
    on_complete: Callable[[], object] | None = attrs.field(
        default=None, validator=_check_hook(0), on_setattr=_frozen
    )
    on_exception: Callable[[Exception], object] | None = attrs.field(
        default=None, validator=_check_hook(1), on_setattr=_frozen
    )
    name: str = attrs.field(
        default=attrs.Factory(_default_name, takes_self=True),
        validator=_check_name,
        on_setattr=_frozen,
    )
    clock: Clock | None = attrs.field(default=None, validator=_check_clock, on_setattr=_frozen)

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
    _pending_report: dict[str, object] | None = attrs.field(default=None, init=False, repr=False)

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
            self._deliver_report()
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
        if exc is None:
            await self.join()
        else:
            # The body's exception wins; one that ended the task was logged already.
            with contextlib.suppress(Exception):
                await self.join()

    def _on_done(self, handle: asyncio.Task[None]) -> None:
        _RUNNING.discard(handle)
        if handle is self.handle:
            # Also when cancelled before its first step, when no finally ran.
            self.running = False
            self.next_run_at = None
        if not handle.cancelled():
            # The loop already reported its exception to the loop's handler;
            # retrieving it keeps asyncio from reporting it again at collection.
            handle.exception()

    async def _loop(self, clock: Clock) -> None:
        me = asyncio.current_task()
        assert me is not None
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
        raised: BaseException | None = None
        failure: Exception | None
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
                    if due > clock.time():
                        self.next_run_at = _now() + timedelta(seconds=due - clock.time())
                        if not await self._wait(clock, due):
                            continue
                    tick += 1
                self.next_run_at = None
                self.count += 1
                self.last_started_at = _now()
                try:
                    await call()
                except asyncio.CancelledError as exc:
                    if _cancelling(me) != 0:
                        raise  # a real cancellation: ours, or the app's
                    failure = RuntimeError(
                        "the run raised CancelledError while its task was not being cancelled"
                    )
                    failure.__cause__ = exc
                except Exception as exc:
                    failure = exc
                else:
                    self.last_finished_at = _now()
                    if _cancelling(me):
                        # The run swallowed a cancellation meant for the loop.
                        raise asyncio.CancelledError
                    failure = None
                if failure is not None:
                    self.last_finished_at = _now()
                    await self._failed(failure, logger)
                    if self.raise_exceptions:
                        self._report(failure)
                        raised = failure
                        raise failure
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
        except BaseException as exc:
            if exc is not raised:
                # KeyboardInterrupt, SystemExit, or a bug: never end silently.
                logger.error(
                    "repeated task %r ended by %s", self.name, type(exc).__name__, exc_info=exc
                )
            raise
        finally:
            self.running = False
            self.next_run_at = None

    def _report(self, exc: Exception) -> None:
        # Delivered from outside the task: since Python 3.12 the loop runs a
        # custom handler in the task's context, which cannot be entered again
        # from within the task. join() delivers it first if it is still queued.
        self._pending_report = {
            "message": f"repeated task {self.name!r} ended by an exception (raise_exceptions=True)",
            "exception": exc,
            "task": self.handle,
        }
        asyncio.get_running_loop().call_soon(self._deliver_report)

    def _deliver_report(self) -> None:
        context, self._pending_report = self._pending_report, None
        if context is not None:
            asyncio.get_running_loop().call_exception_handler(context)

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
