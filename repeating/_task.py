"""`RepeatedTask`: one function, one schedule, one asyncio task."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone, tzinfo
from types import TracebackType
from typing import Any, Literal, Protocol, TypeVar

import attrs

from repeating import _validate as check
from repeating._callables import is_async, make_caller, prepare, qualname
from repeating._clock import Clock
from repeating._keep import Keeper
from repeating._readonly import ReadOnly
from repeating._schedule import Grid, Schedule, catch_up
from repeating.locks import Claim, Lock

__all__ = ["RepeatedTask"]

_LOGGER = logging.getLogger("repeating")

# The event loop keeps only weak references to tasks; this keeps every running
# loop (its state, which holds its asyncio task) alive even when the caller
# drops the RepeatedTask.
_RUNNING = Keeper()

_T = TypeVar("_T", bound="RepeatedTask")

# How long a wall-clock schedule trusts the monotonic clock before reading the
# wall clock again, and how early a fire time may be run.
_RECHECK = 60.0
_EARLY = 1e-6


class _Disarm(Protocol):
    def cancel(self) -> object: ...


@attrs.frozen
class _Wall:
    """The timer of a wall-clock schedule: its `next_due` is a wall-clock time."""

    time: Callable[[], float]


@attrs.frozen
class _Hooks:
    on_complete: Callable[[], Awaitable[object]] | None
    on_exception: Callable[[Exception], Awaitable[object]] | None


def _default_name(self: RepeatedTask) -> str:
    if self._func is not None:
        return qualname(self._func)
    return type(self).__qualname__


def _make_call(self: RepeatedTask) -> Callable[[], Awaitable[object]]:
    overridden = type(self).run is not RepeatedTask.run
    if self._func is None and not overridden:
        msg = f"{type(self).__qualname__} needs func=..., or a subclass that overrides run()"
        raise TypeError(msg)
    if self._func is not None and overridden:
        msg = (
            f"{type(self).__qualname__} overrides run(), so it takes no func; "
            f"got func={self._func!r}"
        )
        raise TypeError(msg)
    if self._func is None:
        return prepare(self.run, argument="run")
    return prepare(self._func, argument="func")


if sys.version_info >= (3, 11):

    def _uncancel() -> int:
        """Withdraw one cancellation request from the current task; how many remain."""
        task = asyncio.current_task()
        return 0 if task is None else task.uncancel()

    def _cancelling(task: asyncio.Task[Any] | None) -> int | None:
        """How many cancellations of `task` are pending."""
        return None if task is None else task.cancelling()

else:  # pragma: no cover - Python 3.10 cannot count cancellations

    def _uncancel() -> int:
        return 0

    def _cancelling(task: asyncio.Task[Any] | None) -> int | None:
        return None


def _cancelled_on_its_own(exc: asyncio.CancelledError) -> Exception:
    failure = RuntimeError("the run raised CancelledError while its task was not being cancelled")
    failure.__cause__ = exc
    return failure


def _retrieve_exception(handle: asyncio.Task[None]) -> None:
    if not handle.cancelled():
        handle.exception()


def _utc(timestamp: float | None) -> datetime | None:
    return None if timestamp is None else datetime.fromtimestamp(timestamp, timezone.utc)


@attrs.define(eq=False)
class _State:
    """What a running task changes: plain slots, no hooks."""

    count: int = 0
    failures: int = 0
    skipped: int = 0
    last_error: Exception | None = None
    handle: asyncio.Task[None] | None = None
    paused: bool = False
    started_wall: float | None = None
    finished_wall: float | None = None
    next_due: float | None = None  # on timer's clock
    timer: asyncio.AbstractEventLoop | Clock | _Wall | None = None
    stopping: bool = False
    triggered: bool = False
    waiting: bool = False
    wake_requested: bool = False
    cancelled_by_us: bool = False
    pending_report: dict[str, object] | None = None
    slot: int = -1  # in _RUNNING
    tick: int | None = None
    # The run's timeout: None, armed (what cancels it), or True once it fired.
    guard: _Disarm | Literal[True] | None = None


# No setattr hooks: configuration is validated once, in __init__, and is
# read-only afterwards; hooks would make __init__ assign through slow calls.
@attrs.define(kw_only=True, eq=False, repr=False, on_setattr=attrs.setters.NO_OP)
class RepeatedTask:
    """Runs a function periodically on the event loop.

    Pass `func`, or subclass and override `run` (`async def` or plain `def`;
    plain functions run in a worker thread). Configuration is validated here,
    at construction, and is read-only afterwards. `start()` begins the loop,
    `stop()` ends it after the run in progress, `cancel()` also cancels an
    async run in progress, and `await join()` waits until the loop has ended.

    Keyword Args:
        func (Callable[[], object] | None): The zero-argument function each
            run calls, `async def` or plain `def`; omit it in a subclass that
            overrides `run`.
        seconds (float | timedelta | None): The period, as seconds or a
            `timedelta` (fixed rate). Give `seconds` or `cron`.
        cron (str | None): A cron expression such as `"0 3 * * *"` (needs
            `repeating[cron]`).
        tz (str | tzinfo | None): The time zone of `cron`, an IANA name or a
            `tzinfo`; UTC by default.
        wait_first (bool | float | timedelta | None): False or None: the first
            run at once; True: after one period; a number or `timedelta`:
            after that long.
        max_repetitions (int | None): The number of runs after which the loop
            ends.
        logger (logging.Logger | None): Where failures are logged; the
            `repeating` logger by default.
        raise_exceptions (bool): End the loop at the first failure and
            re-raise it from `join()`.
        on_complete (Callable[[], object] | None): Called once when
            `max_repetitions` is reached.
        on_exception (Callable[[Exception], object] | None): Called with each
            failure's exception.
        name (str | None): Used in logs, status and coordination keys; the
            function's qualified name by default.
        clock (Clock | None): The clock of the schedule;
            `repeating.testing.VirtualClock` in tests.
        lock (Lock | None): A coordination backend: each tick runs in one
            process only.
        fixed_delay (bool): Count each period from the end of the previous run.
        jitter (float): Start each run up to this many seconds after its tick,
            at random.
        timeout (float | timedelta | None): Cancel a run after this many
            seconds; it fails with `TimeoutError`.

    Raises:
        TypeError: A missing or mistyped argument, named in the message.
        ValueError: A value out of range, named in the message with the value.

    Added in version 0.1.
    """

    # Configuration: keyword arguments without the underscore, read-only
    # attributes of the same name (see the ReadOnly views below).
    _func: Callable[[], object] | None = None
    # None for a cron task. Typed float for the plain loop, which runs interval
    # tasks only and reads it each tick: a local copy would cost each task's
    # frame a slot. The public `seconds` says `float | None`.
    _seconds: float = attrs.field(default=None, converter=check.to_seconds)
    _cron: str | None = None
    _tz: str | tzinfo | None = None
    _wait_first: bool | float = attrs.field(default=False, converter=check.to_wait_first)
    _max_repetitions: int | None = None
    _logger: logging.Logger | None = None
    _raise_exceptions: bool = False
    _on_complete: Callable[[], object] | None = None
    _on_exception: Callable[[Exception], object] | None = None
    _name: str | None = None  # None: derived from the function or the class
    _clock: Clock | None = None
    _lock: Lock | None = None
    _fixed_delay: bool = False
    _jitter: float = 0.0
    _timeout: float | None = attrs.field(default=None, converter=check.to_timeout)

    # How to call each function: decided once, by __attrs_post_init__.
    _call: Callable[[], Awaitable[object]] = attrs.field(init=False)
    _hooks: _Hooks | None = attrs.field(init=False)  # None: neither hook given

    # State, written by the loop, read through the ReadOnly views below. It
    # lives apart so that a subclass's setattr hooks never slow the loop.
    _state: _State = attrs.field(init=False, factory=_State)

    func = ReadOnly[Callable[[], object] | None](setting=True)
    """The function each run calls, or None when a subclass overrides `run`."""
    seconds = ReadOnly[float | None](setting=True)
    """The period, in seconds; None for a cron schedule."""
    cron = ReadOnly[str | None](setting=True)
    """The cron expression, or None for an interval."""
    wait_first = ReadOnly[bool | float](setting=True)
    """False: first run at once; True: after one period; a number: after that long."""
    max_repetitions = ReadOnly[int | None](setting=True)
    """Runs after which the loop ends (failed runs count), or None."""
    logger = ReadOnly[logging.Logger | None](setting=True)
    """Where failures are logged; None means the `repeating` logger."""
    raise_exceptions = ReadOnly[bool](setting=True)
    """Whether the first failure ends the loop and is re-raised by `join()`."""
    on_complete = ReadOnly[Callable[[], object] | None](setting=True)
    """Called once when `max_repetitions` is reached."""
    on_exception = ReadOnly[Callable[[Exception], object] | None](setting=True)
    """Called with each failure's exception."""
    name = ReadOnly[str](setting=True)
    """Used in logs, status and coordination keys."""
    clock = ReadOnly[Clock | None](setting=True)
    """The clock the schedule runs on; None is the event loop's."""
    fixed_delay = ReadOnly[bool](setting=True)
    """True: each period counts from the end of the previous run, as fastapi-utils does."""
    jitter = ReadOnly[float](setting=True)
    """Each scheduled run starts up to this many seconds after its tick, at random."""
    timeout = ReadOnly[float | None](setting=True)
    """Seconds after which a run is cancelled and counted as failed with TimeoutError."""
    lock = ReadOnly["Lock | None"](setting=True)
    """The coordination backend that makes a tick run in one process only, or None."""

    count = ReadOnly[int](of="_state")
    """Runs started."""
    failures = ReadOnly[int](of="_state")
    """Runs that raised."""
    skipped = ReadOnly[int](of="_state")
    """Ticks or fire times not run: a run overran them, the wall clock jumped
    past them (cron), or another process ran them (`lock=`)."""
    last_error = ReadOnly[Exception | None](of="_state")
    """The latest failure's exception."""
    handle = ReadOnly["asyncio.Task[None] | None"](of="_state")
    """The asyncio task running the loop (kept after it ends), or None."""

    @property
    def running(self) -> bool:
        """True from `start()` until the loop has ended."""
        handle = self._state.handle
        return handle is not None and not handle.done()

    paused = ReadOnly[bool](of="_state")
    """True between `pause()` and `resume()`."""
    tick = ReadOnly[int | None](of="_state")
    """With a lock: the grid tick of the run in progress, or of the latest one.

    The same in every process for the same period: a key for making a run
    idempotent. None without a lock, and for runs started by `trigger()`."""

    def __attrs_post_init__(self) -> None:
        """Validate the configuration and decide how to call each function.

        One method rather than a validator per field keeps constructing many
        tasks cheap. A subclass that defines its own __attrs_post_init__ must
        call this one (`super().__attrs_post_init__()`).
        """
        # All defaults need no checking: constructing many tasks is cheaper.
        if not (
            self._max_repetitions is None
            and self._logger is None
            and self._raise_exceptions is False
            and self._on_complete is None
            and self._on_exception is None
            and self._clock is None
            and self._lock is None
        ):
            check.options(
                max_repetitions=self._max_repetitions,
                logger=self._logger,
                raise_exceptions=self._raise_exceptions,
                on_complete=self._on_complete,
                on_exception=self._on_exception,
                clock=self._clock,
                lock=self._lock,
            )
        if self._cron is None and self._tz is None and self._seconds is not None:
            # The defaults need no checking: skipped, constructing many tasks is cheaper.
            if not (
                self._lock is None
                and self._fixed_delay is False
                and self._jitter.__class__ is float
                and not self._jitter
            ):
                check.schedule_options(
                    seconds=self._seconds,
                    fixed_delay=self._fixed_delay,
                    jitter=self._jitter,
                    lock=self._lock,
                )
        else:
            self._check_cron()
        if self._name is None:
            self._name = _default_name(self)
        else:
            check.name(self._name)
        self._call = _make_call(self)
        self._hooks = (
            None
            if self._on_complete is None and self._on_exception is None
            else _Hooks(
                None if self._on_complete is None else make_caller(self._on_complete),
                None if self._on_exception is None else make_caller(self._on_exception),
            )
        )

    def _check_cron(self) -> None:
        """Check a cron schedule's options, or refuse the lack of a schedule."""
        if (self._seconds is None) == (self._cron is None):
            msg = (
                "pass exactly one of seconds (an interval) or cron (a cron expression); "
                f"got seconds={self._seconds!r}, cron={self._cron!r}"
            )
            raise TypeError(msg)
        if self._cron is None:
            msg = f"tz applies to cron schedules only, got tz={self._tz!r} with seconds"
            raise TypeError(msg)
        check.cron_options(
            cron=self._cron,
            wait_first=self._wait_first,
            fixed_delay=self._fixed_delay,
            jitter=self._jitter,
        )
        # Resolved once ("local" reads the environment): a task that passed
        # here never fails on it later.
        self._tz = check.to_tz(timezone.utc if self._tz is None else self._tz)
        self._schedule()  # parses the expression: a bad one fails here

    def _schedule(self) -> Schedule:
        """The wall-clock schedule: the cron expression's, or a lock's grid."""
        if self._cron is None:
            assert self._seconds is not None
            return Grid(self._seconds)
        # Imported here: the cron extra is optional.
        from repeating._cron import Cron

        assert isinstance(self._tz, tzinfo)
        return Cron(self._cron, self._tz)

    @property
    def tz(self) -> tzinfo | None:
        """The time zone of the cron expression (UTC by default), or None for an interval.

        To make an interval task of a cron task, `attrs.evolve(task, cron=None,
        tz=None, seconds=...)`."""
        return None if self._cron is None else self._tz  # type: ignore[return-value]

    @property
    def last_started_at(self) -> datetime | None:
        """When the latest run started (UTC)."""
        return _utc(self._state.started_wall)

    @property
    def last_finished_at(self) -> datetime | None:
        """When the latest run ended (UTC)."""
        return _utc(self._state.finished_wall)

    @property
    def next_run_at(self) -> datetime | None:
        """When the next run is due (UTC), while the loop waits for it."""
        due, timer = self._state.next_due, self._state.timer
        if due is None or due == math.inf or timer is None:  # inf: paused
            return None
        if isinstance(timer, _Wall):
            return _utc(due)
        return _utc(time.time() + (due - timer.time()))

    @property
    def schedule(self) -> str:
        """The schedule, for people: `every 60s`, `cron '0 3 * * *' (Europe/Berlin)`."""
        if self._cron is not None:
            return f"cron {self._cron!r} ({self._tz})"
        return f"every {self._seconds:g}s"

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        kind = type(self).__qualname__
        return f"<{kind} {self._name!r} {self.schedule}, {state}, count={self._state.count}>"

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
                f"task {self._name!r}: start() needs a running event loop; call it "
                "from async code such as a FastAPI lifespan or an async startup handler"
            )
            raise RuntimeError(msg) from None
        if not hasattr(self, "_call"):
            msg = (
                f"{type(self).__qualname__} was not set up: its __attrs_post_init__ must "
                "call super().__attrs_post_init__()"
            )
            raise TypeError(msg)
        if self.running:
            msg = (
                f"task {self._name!r} is already running; call stop() and await "
                "join() before starting it again"
            )
            raise RuntimeError(msg)
        self._state.stopping = self._state.triggered = self._state.waiting = False
        self._state.wake_requested = self._state.cancelled_by_us = False
        self._state.timer = None  # set by the loop's first step
        plain = self._cron is None and self._lock is None
        run = self._loop() if plain else self._scheduled_loop(self._schedule())
        handle = loop.create_task(run, name=self._name)
        self._state.handle = handle
        _RUNNING.add(self._state)
        if self._clock is not None:
            self._clock.attach(handle)

    def stop(self) -> None:
        """Let no new run start. Idempotent.

        A loop waiting for its next run ends at once; a run in progress is
        allowed to finish.
        """
        self._state.stopping = True
        self._wake()

    def cancel(self) -> None:
        """Stop, and cancel an async run in progress.

        A sync run cannot be interrupted: the loop ends when its thread
        returns, and `join()` waits for that.
        """
        self._state.stopping = True
        handle = self._state.handle
        if handle is not None and not handle.done():
            self._state.cancelled_by_us = True
            handle.cancel()
            if self._state.timer is None:
                # Cancelled before its first step, the loop never runs its finally.
                _RUNNING.discard(self._state)

    def trigger(self) -> None:
        """Run as soon as possible, without moving the schedule.

        A run in progress finishes first (runs never overlap); several triggers
        during one run give one extra run. A paused task runs once and stays
        paused. Raises RuntimeError if the task is not running.
        """
        if not self.running:
            msg = f"task {self._name!r} is not running; start() it before trigger()"
            raise RuntimeError(msg)
        self._state.triggered = True
        self._wake()

    def pause(self) -> None:
        """Let no scheduled run start until `resume()`. Idempotent.

        A run in progress finishes. The flag survives `stop()` and `start()`.
        """
        self._state.paused = True
        self._wake()

    def resume(self) -> None:
        """Undo `pause()`: the next run is the schedule's next tick from now.

        The ticks that passed while paused are not run: no burst of catch-up runs.
        """
        self._state.paused = False
        self._wake()

    async def join(self) -> None:
        """Wait until the loop has ended.

        Re-raises the exception that ended it (`raise_exceptions=True`).
        Returns at once if the task was never started.
        """
        handle = self._state.handle
        if handle is None:
            return
        if handle is asyncio.current_task():
            msg = f"task {self._name!r}: join() from its own run would wait forever"
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

    async def _loop(self) -> None:
        # The hot path, in one frame: no helper coroutine per tick, one clock
        # reading per tick, asyncio.sleep awaited directly on the loop's own
        # clock. Few locals: the frame lives as long as the task, per task.
        st = self._state
        timer = st.timer = asyncio.get_running_loop() if self._clock is None else self._clock
        remaining = self._max_repetitions
        now = timer.time()
        start = now + (self._seconds if self._wait_first is True else float(self._wait_first))
        tick = 0  # the next regular tick, due at start + tick * seconds
        failure: Exception | None = None
        try:
            while not st.stopping:
                if st.triggered:
                    # An extra run: the grid stays where it is.
                    st.triggered = False
                else:
                    due = math.inf if st.paused else start + tick * self._seconds
                    if self._jitter:
                        # Added to the tick, never accumulated: every run stays
                        # within [tick, tick + jitter), before the next tick.
                        due += self._jitter * random.random()
                    if due > now:
                        st.next_due = due
                        # Waking is a cancellation that is recognized and
                        # swallowed here: no Event or wait_for per tick.
                        st.waiting = True
                        try:
                            await (
                                asyncio.sleep(due - now)
                                if self._clock is None
                                else self._clock.sleep_until(due)
                            )
                        except asyncio.CancelledError:
                            if not self._woken():
                                raise
                            now = timer.time()
                            if due == math.inf:
                                # Resumed: back on the grid from now, without the ticks missed.
                                tick = max(tick, math.ceil((now - start) / self._seconds))
                            continue
                        finally:
                            st.waiting = False
                    tick += 1
                st.next_due = None
                st.count += 1
                st.started_wall = time.time()
                if self._timeout is not None:
                    self._arm_timeout()
                try:
                    await self._call()
                except asyncio.CancelledError as exc:
                    failure = self._cancelled_run(exc)
                except Exception as exc:
                    failure = exc if st.guard is None else self._failed_run(exc)
                else:
                    failure = None
                    if st.guard is not None or _cancelling(st.handle):
                        failure = self._ended_run()
                st.finished_wall = time.time()
                if failure is not None:
                    await self._failed(failure)
                    if self._raise_exceptions:
                        self._report(failure)
                        raise failure
                if remaining is not None:
                    remaining -= 1
                    if remaining == 0:
                        await self._completed()
                        return
                now = timer.time()
                if self._fixed_delay:
                    # The next period counts from the end of this run.
                    start, tick = now, 1
                if now > start + tick * self._seconds:
                    tick = self._skip(tick, (now - start) / self._seconds)
        except asyncio.CancelledError as exc:
            self._report_lost(exc)
            if not st.cancelled_by_us:
                raise
        except BaseException as exc:
            self._ended_by(exc, reported=exc is failure)
            raise
        finally:
            _RUNNING.discard(st)
            st.next_due = None
            if st.guard is not None:
                self._disarm()  # a run ended by a BaseException left it armed

    async def _scheduled_loop(self, schedule: Schedule) -> None:
        """The loop of a task on the wall clock: a cron expression, or a lock's grid.

        Fire times come from the wall clock, which every process shares; a
        test clock stands in for it. Waits run on the event loop's monotonic
        clock, and the wall clock is read again on waking and at least every
        `_RECHECK` seconds: a clock step or a suspend cannot cause a burst.
        """
        st = self._state
        lock = self._lock
        sleeper = asyncio.get_running_loop() if self._clock is None else self._clock
        wall = time.time if self._clock is None else self._clock.time
        st.timer = _Wall(wall)
        recheck = _RECHECK if self._clock is None else math.inf
        delay = (self._seconds or 0.0) if self._wait_first is True else float(self._wait_first)
        fire = schedule.first(wall(), delay)
        remaining = self._max_repetitions
        outage = False
        # Whether a pause began since the last scheduled run: the fire times it
        # covered are not counted as skipped, even when a trigger() runs then.
        was_paused = False
        try:
            while not st.stopping:
                claim: Claim | None = None
                if st.triggered:
                    # A manual run in this process: no fire time is used up.
                    st.triggered = False
                    st.tick = None
                else:
                    now = wall()
                    was_paused = was_paused or st.paused
                    if st.paused or fire - now > _EARLY:
                        wait = math.inf if st.paused else min(fire - now, recheck)
                        woken = not await self._sleep(sleeper, wait, fire)
                        if woken and wait == math.inf and not st.paused:
                            # Resumed: from now on, without the fire times missed.
                            fire = self._next(schedule, fire, wall(), count=False)
                            was_paused = False
                        continue
                    # Due. After a suspend or a clock step only the latest
                    # fire time that has passed runs; the others are skipped.
                    fire, missed = catch_up(schedule, fire, now)
                    if missed:
                        self._skipped(missed, "was behind the wall clock")
                    this, fire = fire, schedule.after(fire)
                    if lock is not None:
                        try:
                            claim = await lock.claim(self.name, schedule.key(this))
                        except Exception as exc:
                            outage = self._lock_failed(exc, outage)
                            continue
                        if outage:
                            outage = False
                            self._log.warning("repeated task %r: its lock is back", self._name)
                        if claim is None:
                            st.skipped += 1
                            self._log.debug(
                                "repeated task %r: fire time %s runs elsewhere",
                                self._name,
                                _utc(this),
                            )
                            continue
                        if st.stopping or st.paused or wall() >= fire:
                            # Stopped or paused while claiming, or the claim came
                            # too late (a slow backend, a busy process): a run now
                            # would share the next period with that tick's run.
                            await self._release(claim, "skipped")
                            st.skipped += 1
                            continue
                        st.tick = schedule.key(this)
                outcome = "cancelled"
                try:
                    outcome = await self._run_once(wall)
                except Exception:
                    outcome = "failed"  # raise_exceptions=True
                    raise
                finally:
                    if claim is not None:
                        await self._release(claim, outcome)
                if remaining is not None:
                    remaining -= 1
                    if remaining == 0:
                        await self._completed()
                        return
                was_paused = was_paused or st.paused
                fire = self._next(schedule, fire, wall(), count=not was_paused)
                if not st.paused:
                    was_paused = False
        except asyncio.CancelledError as exc:
            self._report_lost(exc)
            if not st.cancelled_by_us:
                raise
        except BaseException as exc:
            self._ended_by(exc, reported=self._raise_exceptions and exc is st.last_error)
            raise
        finally:
            _RUNNING.discard(st)
            st.next_due = None
            if st.guard is not None:
                self._disarm()  # a run ended by a BaseException left it armed

    def _next(self, schedule: Schedule, fire: float, now: float, *, count: bool) -> float:
        """`fire`, or if it has passed (an overrun, a pause), the next one after now."""
        if fire >= now - _EARLY:
            return fire
        latest, passed = catch_up(schedule, fire, now)
        if count:
            self._skipped(passed + 1, "overran its fire times")
        return schedule.after(latest)

    async def _sleep(
        self, sleeper: asyncio.AbstractEventLoop | Clock, wait: float, fire: float
    ) -> bool:
        """Sleep `wait` seconds (inf: until woken) before `fire`, a wall-clock time;
        False when woken early.

        The plain loop inlines the same steps: a helper coroutine would cost
        it a frame per task for as long as the task sleeps.
        """
        st = self._state
        st.next_due = math.inf if wait == math.inf else fire
        st.waiting = True
        try:
            await (
                asyncio.sleep(wait)
                if self._clock is None
                else self._clock.sleep_until(sleeper.time() + wait)
            )
        except asyncio.CancelledError:
            if not self._woken():
                raise
            return False
        finally:
            st.waiting = False
        return True

    async def _run_once(self, wall: Callable[[], float]) -> str:
        """One run with its bookkeeping; its outcome, "ok" or "failed".

        Its timestamps come from `wall`, the clock of the schedule's fire times.
        The plain loop inlines the same steps, to spare a coroutine per run.
        """
        st = self._state
        st.next_due = None
        st.count += 1
        st.started_wall = wall()
        if self._timeout is not None:
            self._arm_timeout()
        failure: Exception | None
        try:
            await self._call()
        except asyncio.CancelledError as exc:
            failure = self._cancelled_run(exc)
        except Exception as exc:
            failure = exc if st.guard is None else self._failed_run(exc)
        else:
            failure = None
            if st.guard is not None or _cancelling(st.handle):
                failure = self._ended_run()
        st.finished_wall = wall()
        if failure is None:
            return "ok"
        await self._failed(failure)
        if self._raise_exceptions:
            self._report(failure)
            raise failure
        return "failed"

    def _cancelled_run(self, exc: asyncio.CancelledError) -> Exception:
        """The failure of a run that raised CancelledError; re-raises a real cancellation."""
        if self._disarm():
            if _uncancel() == 0:
                # Chained, so that the log shows where the run was waiting, or
                # what a sync run raised once its thread returned.
                cause = exc.__cause__
                return self._timeout_error(cause if isinstance(cause, Exception) else exc)
            raise exc  # the loop is being cancelled as well
        if _cancelling(self._state.handle) != 0:
            raise exc  # a real cancellation: ours, or the app's
        return _cancelled_on_its_own(exc)

    def _failed_run(self, exc: Exception) -> Exception:
        """The failure of a run with a timeout that raised: a TimeoutError if the
        timeout fired (the run turned its cancellation into `exc`), else `exc`."""
        if not self._disarm():
            return exc
        if _uncancel() != 0:
            raise asyncio.CancelledError  # the loop is being cancelled as well
        return self._timeout_error(exc)

    def _ended_run(self) -> Exception | None:
        """After a run with a timeout, or one that returned although cancelled: its
        TimeoutError, or None; re-raises a cancellation meant for the loop."""
        timed_out = self._disarm()
        if timed_out and _uncancel() == 0:
            return self._timeout_error(None)
        if timed_out or _cancelling(self._state.handle):
            if not self._state.cancelled_by_us:
                self._log.warning(
                    "repeated task %r: run %d returned although its task was being "
                    "cancelled; the loop ends. (A run that swallows CancelledError, or on "
                    "Python 3.11 CPython's gh-116720 after an asyncio.TaskGroup failure.)",
                    self._name,
                    self._state.count,
                )
            raise asyncio.CancelledError
        return None

    def _report_lost(self, cancel: asyncio.CancelledError) -> None:
        """Log the exception a sync run raised after its task was cancelled."""
        failure = cancel.__cause__
        if isinstance(failure, Exception):
            self._log.error(
                "repeated task %r: run %d failed while its task was being cancelled",
                self._name,
                self._state.count,
                exc_info=failure,
            )

    def _timeout_error(self, cause: BaseException | None) -> TimeoutError:
        """The run's TimeoutError, chained to `cause`: where the run was waiting, or
        what it raised once cancelled."""
        msg = (
            f"run {self._state.count} of {self._name!r} exceeded its timeout of {self._timeout:g}s"
        )
        error = TimeoutError(msg)
        error.__cause__ = cause
        return error

    def _arm_timeout(self) -> None:
        """Have the run in progress cancelled when `timeout` has passed, on the task's clock."""
        assert self._timeout is not None
        if self._state.guard is not None:
            self._disarm()  # left by a run that ended with a BaseException
        if self._clock is None:
            self._state.guard = asyncio.get_running_loop().call_later(self._timeout, self._time_out)
            return
        # A test clock has no timers to call back; a small task sleeping on it
        # stands in for one. Only tests pay for it.
        watchdog = asyncio.ensure_future(self._watch(self._clock.time() + self._timeout))
        self._state.guard = watchdog
        self._clock.attach(watchdog)  # so that the clock waits for it to start sleeping

    def _disarm(self) -> bool:
        """End the run's timeout; whether it had fired."""
        guard, self._state.guard = self._state.guard, None
        if guard is True:
            return True
        if guard is not None:
            guard.cancel()
        return False

    async def _watch(self, deadline: float) -> None:
        assert self._clock is not None
        await self._clock.sleep_until(deadline)
        self._time_out()

    def _time_out(self) -> None:
        st = self._state
        handle = st.handle
        if handle is None or handle.done() or st.guard is None or st.guard is True:
            return
        st.guard = True
        self._log.warning(
            "repeated task %r: run %d exceeded its timeout of %gs; cancelling it%s",
            self._name,
            st.count,
            self._timeout,
            "" if self._runs_inline else " (it runs in a thread: the loop waits for it to return)",
        )
        handle.cancel()

    @property
    def _runs_inline(self) -> bool:
        """Whether runs are awaited on the event loop (else they run in a thread)."""
        return is_async(self._func if self._func is not None else self.run)

    def _lock_failed(self, exc: Exception, outage: bool) -> bool:
        """Count the tick as skipped; warn once per outage. Returns True (in an outage)."""
        self._state.skipped += 1
        if not outage:
            self._log.warning(
                "repeated task %r: its lock is unreachable (%s: %s); skipping ticks "
                "until it is back",
                self._name,
                type(exc).__name__,
                exc,
            )
        return True

    async def _release(self, claim: Claim, outcome: str) -> None:
        try:
            await claim.release(outcome)
        except Exception:
            self._log.warning(
                "repeated task %r: releasing its claim failed", self._name, exc_info=True
            )

    def _woken(self) -> bool:
        """Whether the CancelledError just caught is our own wake-up call."""
        st = self._state
        if not st.wake_requested:
            return False
        st.wake_requested = False
        return _uncancel() == 0  # else someone else cancelled the loop too

    def _skip(self, tick: int, elapsed: float) -> int:
        """After an overrun: the next tick, skipping (and counting) the missed ones.

        `elapsed` is in periods since the first tick."""
        missed = math.ceil(elapsed) - tick
        if missed <= 0:
            return tick
        self._skipped(missed, "overran its period")
        return tick + missed

    def _ended_by(self, exc: BaseException, *, reported: bool) -> None:
        if not reported:
            # KeyboardInterrupt, SystemExit, or a bug: never end silently.
            self._log.error(
                "repeated task %r ended by %s", self._name, type(exc).__name__, exc_info=exc
            )
        # Reported now; retrieving it keeps asyncio from reporting "Task
        # exception was never retrieved" at collection.
        if self._state.handle is not None:
            self._state.handle.add_done_callback(_retrieve_exception)

    @property
    def _log(self) -> logging.Logger:
        return self._logger if self._logger is not None else _LOGGER

    def _skipped(self, missed: int, why: str) -> None:
        self._state.skipped += missed
        self._log.debug("repeated task %r %s; skipped %d tick(s)", self._name, why, missed)

    def _wake(self) -> None:
        handle = self._state.handle
        if self._state.waiting and not self._state.wake_requested and handle is not None:
            self._state.wake_requested = True
            handle.cancel()

    def _report(self, exc: Exception) -> None:
        # Delivered from outside the task: since Python 3.12 the loop runs a
        # custom handler in the task's context, which cannot be entered again
        # from within the task. join() delivers it first if it is still queued.
        self._state.pending_report = {
            "message": f"repeated task {self._name!r} ended by an exception "
            "(raise_exceptions=True)",
            "exception": exc,
            "task": self._state.handle,
        }
        asyncio.get_running_loop().call_soon(self._deliver_report)

    def _deliver_report(self) -> None:
        context, self._state.pending_report = self._state.pending_report, None
        if context is not None:
            asyncio.get_running_loop().call_exception_handler(context)

    async def _failed(self, exc: Exception) -> None:
        self._state.failures += 1
        self._state.last_error = exc
        self._log.error(
            "repeated task %r failed (run %d)", self._name, self._state.count, exc_info=exc
        )
        if self._hooks is not None and self._hooks.on_exception is not None:
            await self._hook("on_exception", self._hooks.on_exception(exc))

    async def _completed(self) -> None:
        if self._hooks is not None and self._hooks.on_complete is not None:
            await self._hook("on_complete", self._hooks.on_complete())

    async def _hook(self, what: str, call: Awaitable[object]) -> None:
        # A failing hook is logged, never raised: it must not end the loop.
        try:
            await call
        except Exception:
            self._log.exception("%s hook of repeated task %r failed", what, self._name)
