"""Per-run timeouts: async runs are cancelled, sync runs are waited for; never overlapping."""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import traceback
from datetime import timedelta

import pytest

from repeating import RepeatedTask, repeat_every
from repeating.testing import VirtualClock
from tests.helpers import Recorder


async def test_an_async_run_past_its_timeout_fails_with_timeout_error(
    clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """timeout=5, a run of 30 s: cancelled at 5, a TimeoutError failure logged; the next
    tick still runs."""
    finished: list[float] = []

    async def slow() -> None:
        await clock.sleep(30)
        finished.append(clock.time())

    task = RepeatedTask(func=slow, seconds=60, timeout=5, clock=clock, name="slow")
    task.start()
    await clock.advance(5)
    assert task.failures == 1
    assert isinstance(task.last_error, TimeoutError)
    assert str(task.last_error) == "run 1 of 'slow' exceeded its timeout of 5s"
    failure = next(r for r in caplog.records if r.levelno == logging.ERROR)
    assert failure.exc_info is not None
    assert failure.exc_info[0] is TimeoutError
    assert "exceeded its timeout of 5s; cancelling it" in caplog.text
    await clock.advance(60)
    assert task.count == 2
    assert finished == []
    task.cancel()
    await task.join()


async def test_a_run_within_its_timeout_is_untouched(clock: VirtualClock) -> None:
    """timeout=5 and runs of 4 s: no failure, each run completes."""
    rec = Recorder(clock, duration=4)
    task = RepeatedTask(func=rec, seconds=10, timeout=timedelta(seconds=5), clock=clock)
    task.start()
    await clock.advance(95)
    assert task.count == 10
    assert task.failures == 0
    task.stop()
    await task.join()


async def test_a_run_that_swallows_its_timeout_still_fails(clock: VirtualClock) -> None:
    """A run that catches the cancellation and returns is still a TimeoutError failure."""

    async def stubborn() -> None:
        try:
            await clock.sleep(30)
        except asyncio.CancelledError:
            return

    task = RepeatedTask(func=stubborn, seconds=60, timeout=5, clock=clock)
    task.start()
    await clock.advance(5)
    assert task.failures == 1
    assert isinstance(task.last_error, TimeoutError)
    assert task.running
    task.stop()
    await task.join()


async def test_cancel_during_a_timed_run_still_ends_the_loop(clock: VirtualClock) -> None:
    """cancel() while a run with a timeout is in progress ends the loop, with no failure."""
    task = RepeatedTask(func=Recorder(clock, duration=30), seconds=60, timeout=10, clock=clock)
    task.start()
    await clock.advance(2)
    task.cancel()
    await task.join()
    assert not task.running
    assert task.failures == 0


async def test_a_timeout_on_the_real_loop_cancels_an_async_run() -> None:
    """With the event loop's clock: timeout=0.05 cancels a run that sleeps 10 s."""

    async def sleeper() -> None:
        await asyncio.sleep(10)

    failed = asyncio.Event()
    task = RepeatedTask(
        func=sleeper, seconds=3600, timeout=0.05, on_exception=lambda _: failed.set()
    )
    task.start()
    await asyncio.wait_for(failed.wait(), 5)
    assert isinstance(task.last_error, TimeoutError)
    task.stop()
    await task.join()


async def test_a_sync_run_past_its_timeout_is_waited_for(caplog: pytest.LogCaptureFixture) -> None:
    """A sync run cannot be interrupted: at the timeout a warning; the failure when its thread
    returns; no run overlaps it."""
    release = threading.Event()
    active, most = [0], [0]
    lock = threading.Lock()

    def blocking() -> None:
        with lock:
            active[0] += 1
            most[0] = max(most[0], active[0])
        try:
            release.wait(5)
        finally:
            with lock:
                active[0] -= 1

    failed = asyncio.Event()
    task = RepeatedTask(
        func=blocking,
        seconds=0.02,
        timeout=0.05,
        name="blocking",
        on_exception=lambda _: failed.set(),
    )
    task.start()
    while "exceeded its timeout" not in caplog.text:  # noqa: ASYNC110 - waiting for a log line
        await asyncio.sleep(0.01)
    assert "it runs in a thread: the loop waits for it to return" in caplog.text
    await asyncio.sleep(0.1)  # five periods: none may start while the thread runs
    assert task.count == 1
    assert task.failures == 0
    release.set()
    await asyncio.wait_for(failed.wait(), 5)
    assert isinstance(task.last_error, TimeoutError)
    task.stop()
    await task.join()
    assert most[0] == 1
    assert task.skipped > 0  # the ticks its overrun covered


@pytest.mark.parametrize(
    ("timeout", "error", "message"),
    [
        (0, ValueError, "timeout must be > 0 seconds, or None for no timeout; got 0"),
        (-1, ValueError, "timeout must be > 0 seconds, or None for no timeout; got -1"),
        (float("nan"), ValueError, "timeout must be finite and at most 1e+09 s, got nan"),
        ("5", TypeError, "timeout must be a number of seconds or a timedelta, got '5'"),
    ],
)
def test_a_bad_timeout_is_refused_at_construction(
    timeout: object, error: type[Exception], message: str
) -> None:
    """A non-positive or non-numeric timeout raises at construction and at decoration."""
    with pytest.raises(error, match=re.escape(message)):
        RepeatedTask(func=lambda: None, seconds=1, timeout=timeout)  # type: ignore[arg-type]
    with pytest.raises(error, match=re.escape(message)):
        repeat_every(seconds=1, timeout=timeout)(lambda: None)  # type: ignore[arg-type]


async def test_the_timeout_error_shows_where_the_run_was_waiting(clock: VirtualClock) -> None:
    """The TimeoutError's cause is the run's cancellation, whose traceback has the run's frame."""

    async def stuck_in_upstream_call() -> None:
        await clock.sleep(30)

    task = RepeatedTask(func=stuck_in_upstream_call, seconds=60, timeout=5, clock=clock)
    task.start()
    await clock.advance(5)
    error = task.last_error
    assert isinstance(error, TimeoutError)
    assert isinstance(error.__cause__, asyncio.CancelledError)
    frames = traceback.extract_tb(error.__cause__.__traceback__)
    assert "stuck_in_upstream_call" in [frame.name for frame in frames]
    task.cancel()
    await task.join()


class Fatal(BaseException):
    """Ends a loop, as KeyboardInterrupt would."""


@pytest.mark.parametrize("schedule", [{"seconds": 60}, {"cron": "* * * * *"}])
async def test_a_run_ended_by_a_base_exception_leaves_no_timeout_behind(
    schedule: dict[str, object],
) -> None:
    """After a BaseException ended a timed run, the restarted task is not cancelled by
    the old deadline."""
    clock = VirtualClock(start=1_800_000_000)
    calls = [0]

    async def job() -> None:
        calls[0] += 1
        if calls[0] == 1:
            raise Fatal
        await clock.sleep(5)  # well within the timeout

    task = RepeatedTask(func=job, timeout=30, clock=clock, **schedule)  # type: ignore[arg-type]
    task.start()
    await clock.advance(60)
    with pytest.raises(Fatal):
        await task.join()
    await clock.advance(10)
    task.start()
    await clock.advance(120)
    assert task.running
    assert task.failures == 0
    task.cancel()
    await task.join()


async def test_a_run_that_turns_its_timeout_into_another_error_is_a_timeout(
    clock: VirtualClock,
) -> None:
    """A run that raises ConnectionError on cancellation: TimeoutError (caused by it), and
    the loop lives on: trigger() and the next tick still run."""

    async def job() -> None:
        try:
            await clock.sleep(100)
        except asyncio.CancelledError:
            raise ConnectionError("aborted") from None

    task = RepeatedTask(func=job, seconds=60, timeout=30, clock=clock)
    task.start()
    await clock.advance(30)
    assert isinstance(task.last_error, TimeoutError)
    assert isinstance(task.last_error.__cause__, ConnectionError)
    assert task.running
    task.trigger()
    await clock.advance(60)
    assert task.running
    assert task.count == 3
    assert task.failures == 3
    task.cancel()
    await task.join()


async def test_a_timed_out_sync_run_that_raises_is_logged_on_the_task_logger(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A sync run past its timeout that then raises: the TimeoutError is caused by that
    exception, logged on the task's logger under its name."""
    release = threading.Event()

    def job() -> None:
        release.wait(5)
        raise ValueError("the real problem")

    failed = asyncio.Event()
    task = RepeatedTask(
        func=job,
        seconds=3600,
        timeout=0.05,
        name="sync-job",
        logger=logging.getLogger("myapp"),
        on_exception=lambda _: failed.set(),
    )
    task.start()
    while "exceeded its timeout" not in caplog.text:  # noqa: ASYNC110 - waiting for a log line
        await asyncio.sleep(0.01)
    release.set()
    await asyncio.wait_for(failed.wait(), 5)
    assert isinstance(task.last_error, TimeoutError)
    assert isinstance(task.last_error.__cause__, ValueError)
    assert {r.name for r in caplog.records} == {"myapp"}
    assert "'_call'" not in caplog.text
    task.stop()
    await task.join()


async def test_a_sync_run_that_raises_after_cancel_is_logged_on_the_task_logger(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """cancel() during a sync run that then raises: logged on the task's logger, by name."""
    started, release = threading.Event(), threading.Event()

    def job() -> None:
        started.set()
        release.wait(5)
        raise ValueError("while cancelled")

    task = RepeatedTask(func=job, seconds=3600, name="sync-job", logger=logging.getLogger("myapp"))
    task.start()
    while not started.is_set():  # noqa: ASYNC110 - a thread sets it
        await asyncio.sleep(0.01)
    task.cancel()
    release.set()
    await task.join()
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.name == "myapp"
    assert "'sync-job': run 1 failed while its task was being cancelled" in record.getMessage()
