"""start, stop, cancel, join and `async with`, on the real event loop clock."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time

import pytest

from repeating import RepeatedTask
from repeating.testing import VirtualClock
from tests.helpers import our_pending_tasks


async def nothing() -> None:
    """A run that does nothing."""


def test_start_without_running_loop_raises() -> None:
    """start() outside a running event loop raises a RuntimeError that says so."""
    task = RepeatedTask(func=nothing, seconds=1)
    with pytest.raises(RuntimeError, match="start\\(\\) needs a running event loop"):
        task.start()
    assert task.running is False
    assert task.handle is None


async def test_second_start_raises(clock: VirtualClock) -> None:
    """start() on a running task raises, naming the task."""
    task = RepeatedTask(func=nothing, seconds=1, name="refresh", clock=clock)
    async with task:
        with pytest.raises(RuntimeError, match="task 'refresh' is already running"):
            task.start()


async def test_stopped_task_starts_again(clock: VirtualClock) -> None:
    """A stopped and joined task can be started again; counters are cumulative."""
    task = RepeatedTask(func=nothing, seconds=10, max_repetitions=2, clock=clock)
    task.start()
    await clock.advance(20)
    await task.join()
    assert (task.count, task.running) == (2, False)
    task.start()
    assert task.running is True
    await clock.advance(20)
    await task.join()
    assert task.count == 4


async def test_stop_while_sleeping_ends_at_once() -> None:
    """stop() on a task sleeping a 1-hour period lets join() return within 50 ms."""
    task = RepeatedTask(func=nothing, seconds=3600)
    task.start()
    await asyncio.sleep(0.01)
    assert task.count == 1
    began = time.monotonic()
    task.stop()
    await task.join()
    assert time.monotonic() - began < 0.05
    assert task.running is False
    assert our_pending_tasks() == []


async def test_stop_during_run_lets_it_finish() -> None:
    """stop() during an async run lets that run finish, then the loop ends."""
    started, release = asyncio.Event(), asyncio.Event()
    finished: list[bool] = []

    async def work() -> None:
        started.set()
        await release.wait()
        finished.append(True)

    task = RepeatedTask(func=work, seconds=0.01)
    task.start()
    await started.wait()
    task.stop()
    await asyncio.sleep(0.05)
    assert task.handle is not None
    assert not task.handle.done()
    release.set()
    await task.join()
    assert finished == [True]
    assert task.count == 1


async def test_stop_during_sync_run_lets_it_finish() -> None:
    """stop() during a sync run in a worker thread waits for the thread to return."""
    import threading

    started, release = threading.Event(), threading.Event()
    finished: list[bool] = []

    def work() -> None:
        started.set()
        assert release.wait(5)
        finished.append(True)

    task = RepeatedTask(func=work, seconds=0.01)
    task.start()
    await asyncio.to_thread(started.wait, 5)
    task.stop()
    release.set()
    await task.join()
    assert finished == [True]
    assert task.count == 1


async def test_cancel_cancels_async_run(caplog: pytest.LogCaptureFixture) -> None:
    """cancel() cancels an async run in progress; our cancellation is not an error."""
    started = asyncio.Event()
    outcome: list[str] = []

    async def work() -> None:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            outcome.append("cancelled")
            raise

    task = RepeatedTask(func=work, seconds=1)
    with caplog.at_level(logging.DEBUG, logger="repeating"):
        task.start()
        await started.wait()
        task.cancel()
        await task.join()
    assert outcome == ["cancelled"]
    assert (task.failures, task.last_error, task.running) == (0, None, False)
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert our_pending_tasks() == []


async def test_stop_twice_is_harmless(clock: VirtualClock) -> None:
    """stop() and cancel() are idempotent, before start and after the end too."""
    task = RepeatedTask(func=nothing, seconds=1, clock=clock)
    task.stop()
    task.cancel()
    await task.join()
    task.start()
    await clock.advance(1)
    task.stop()
    task.stop()
    task.cancel()
    await task.join()
    task.stop()
    await task.join()
    assert (task.count, task.running) == (2, False)


async def test_no_task_left_after_join() -> None:
    """After join() no asyncio task of ours is pending, for async and sync functions."""

    def sync_work() -> None:
        pass

    tasks = [
        RepeatedTask(func=nothing, seconds=0.001),
        RepeatedTask(func=sync_work, seconds=0.001),
    ]
    for task in tasks:
        task.start()
    await asyncio.sleep(0.02)
    assert len(our_pending_tasks()) == 2
    for task in tasks:
        task.stop()
    for task in tasks:
        await task.join()
    assert our_pending_tasks() == []
    assert all(task.count >= 2 for task in tasks)


async def test_async_with_starts_and_stops(clock: VirtualClock) -> None:
    """`async with task:` starts it on entry, stops and joins it on exit."""
    task = RepeatedTask(func=nothing, seconds=5, clock=clock)
    async with task as entered:
        assert entered is task
        assert task.running
        await clock.advance(5)
    assert task.handle is not None
    assert (task.running, task.handle.done(), task.count) == (False, True, 2)


async def test_stop_before_first_run_runs_nothing(clock: VirtualClock) -> None:
    """stop() right after start() ends the loop before any run."""
    task = RepeatedTask(func=nothing, seconds=5, clock=clock)
    task.start()
    task.stop()
    await task.join()
    assert task.count == 0


async def test_join_from_own_run_raises(clock: VirtualClock) -> None:
    """join() from inside the task's own run fails instead of deadlocking."""
    errors: list[Exception] = []
    task: RepeatedTask

    async def work() -> None:
        try:
            await task.join()
        except RuntimeError as exc:
            errors.append(exc)

    task = RepeatedTask(func=work, seconds=5, clock=clock)
    async with task:
        await clock.advance()
    assert "would wait forever" in str(errors[0])


async def test_stop_from_inside_run(clock: VirtualClock) -> None:
    """A run may stop its own task; no further run starts."""
    task: RepeatedTask

    async def work() -> None:
        task.stop()

    task = RepeatedTask(func=work, seconds=5, clock=clock)
    task.start()
    await clock.advance(20)
    await task.join()
    assert task.count == 1


async def test_external_cancellation_propagates(clock: VirtualClock) -> None:
    """Cancelling the handle directly (not via stop/cancel) leaves it cancelled."""
    task = RepeatedTask(func=nothing, seconds=5, clock=clock)
    task.start()
    await clock.advance()
    assert task.handle is not None
    task.handle.cancel()
    await task.join()
    assert task.handle.cancelled()
    assert task.running is False


async def test_dropped_task_keeps_running(clock: VirtualClock) -> None:
    """A running task whose object is dropped is not collected, and keeps running."""
    import gc
    import weakref

    calls: list[float] = []

    async def work() -> None:
        calls.append(clock.time())

    task = RepeatedTask(func=work, seconds=1, clock=clock)
    task.start()
    ref = weakref.ref(task)
    del task
    gc.collect()
    await clock.advance(2)
    assert calls == [0.0, 1.0, 2.0]
    alive = ref()
    assert alive is not None
    alive.stop()
    await alive.join()


async def test_cancel_during_sync_run_waits_for_the_thread(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """cancel() cannot interrupt a thread: join() returns only once the sync run is over."""
    import threading

    started = threading.Event()
    finished: list[float] = []

    def work() -> None:
        started.set()
        time.sleep(0.2)
        finished.append(time.monotonic())

    task = RepeatedTask(func=work, seconds=3600)
    task.start()
    await asyncio.to_thread(started.wait, 5)
    task.cancel()
    await task.join()
    joined = time.monotonic()
    assert len(finished) == 1
    assert finished[0] <= joined
    assert (task.running, task.failures) == (False, 0)
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_sync_failure_during_cancellation_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A sync run that fails after its task was cancelled is still logged, with traceback."""
    import threading

    started = threading.Event()

    def work() -> None:
        started.set()
        time.sleep(0.1)
        raise OSError("disk gone")

    task = RepeatedTask(func=work, seconds=3600, name="sync-job")
    task.start()
    await asyncio.to_thread(started.wait, 5)
    with caplog.at_level(logging.ERROR, logger="repeating"):
        task.cancel()
        await task.join()
    [record] = caplog.records
    assert "failed while its task was being cancelled" in record.getMessage()
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], OSError)


async def test_external_cancel_during_sync_run_waits_for_the_thread() -> None:
    """Cancelling the handle during a sync run ends it cancelled, after the thread returns."""
    import threading

    started = threading.Event()
    finished: list[bool] = []

    def work() -> None:
        started.set()
        time.sleep(0.1)
        finished.append(True)

    task = RepeatedTask(func=work, seconds=3600)
    task.start()
    await asyncio.to_thread(started.wait, 5)
    assert task.handle is not None
    task.handle.cancel()
    await task.join()
    assert finished == [True]
    assert task.handle.cancelled()


class Abort(BaseException):
    """A BaseException that is neither Exception nor CancelledError."""


async def test_base_exception_ends_loop_loudly(
    clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A BaseException from the function ends the loop, logged with traceback, never silently."""

    async def work() -> None:
        raise Abort("stop everything")

    task = RepeatedTask(func=work, seconds=1, name="aborting", clock=clock)
    task.start()
    await clock.advance()
    with pytest.raises(Abort):
        await task.join()
    assert task.running is False
    [record] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert record.getMessage() == "repeated task 'aborting' ended by Abort"
    assert record.exc_info is not None


@pytest.mark.skipif(sys.version_info < (3, 11), reason="needs Task.cancelling() (3.11+)")
async def test_cancelled_error_from_function_is_a_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A function raising CancelledError while its task is not cancelled fails that run only."""
    shared = asyncio.get_running_loop().create_future()
    shared.cancel()
    runs: list[int] = []

    async def sync_cache() -> None:
        runs.append(1)
        await shared  # cancelled by someone else

    task = RepeatedTask(func=sync_cache, seconds=0.01, name="cache", max_repetitions=3)
    task.start()
    await task.join()
    assert (len(runs), task.count, task.failures) == (3, 3, 3)
    assert isinstance(task.last_error, RuntimeError)
    assert isinstance(task.last_error.__cause__, asyncio.CancelledError)
    assert "repeated task 'cache' failed (run 1)" in caplog.text


@pytest.mark.skipif(sys.version_info < (3, 11), reason="needs Task.cancelling() (3.11+)")
async def test_swallowed_cancellation_still_ends_the_loop(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A run that swallows the app's cancellation does not keep the loop alive, and the
    end is logged (it is also how CPython's gh-116720 shows, after a TaskGroup)."""
    started = asyncio.Event()

    async def stubborn() -> None:
        started.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(3600)

    task = RepeatedTask(func=stubborn, seconds=0.01)
    task.start()
    await started.wait()
    assert task.handle is not None
    task.handle.cancel()
    await task.join()
    assert task.handle.cancelled()
    assert task.count == 1
    assert "run 1 returned although its task was being cancelled; the loop ends" in caplog.text


async def test_cancel_before_first_step_leaves_task_restartable(clock: VirtualClock) -> None:
    """cancel() right after start() ends the task cleanly; running is False and it restarts."""
    task = RepeatedTask(func=nothing, seconds=1, clock=clock)
    task.start()
    task.cancel()
    await task.join()
    assert (task.running, task.count) == (False, 0)
    task.start()
    await clock.advance()
    assert task.count == 1
    task.stop()
    await task.join()


async def test_first_run_happens_at_the_first_step() -> None:
    """The first run starts at the loop's first step: stop() after one yield still sees it."""
    task = RepeatedTask(func=nothing, seconds=3600)
    task.start()
    await asyncio.sleep(0)
    task.stop()
    await task.join()
    assert task.count == 1


async def test_async_with_body_exception_wins(clock: VirtualClock) -> None:
    """An exception in the `async with` body is not replaced by the task's own."""

    async def fail() -> None:
        raise ValueError("task failure")

    task = RepeatedTask(func=fail, seconds=1, raise_exceptions=True, clock=clock)
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _, __: None)
    caught: BaseException | None = None
    try:
        async with task:
            await clock.advance()
            raise KeyError("body failure")
    except BaseException as exc:
        caught = exc
    finally:
        loop.set_exception_handler(None)
    assert isinstance(caught, KeyError)
    assert task.failures == 1


async def test_finished_tasks_are_not_kept(clock: VirtualClock) -> None:
    """The library holds running tasks only: ended, stopped or cancelled ones are let go."""
    from repeating._task import _RUNNING

    before = len(_RUNNING)
    tasks = [RepeatedTask(func=nothing, seconds=1, clock=clock) for _ in range(3)]
    for task in tasks:
        task.start()
    assert len(_RUNNING) == before + 3
    tasks[0].stop()
    tasks[1].cancel()  # before its first step
    await clock.advance()
    tasks[2].cancel()
    for task in tasks:
        await task.join()
    assert len(_RUNNING) == before
