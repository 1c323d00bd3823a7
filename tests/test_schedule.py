"""When runs happen: first run, wait_first, fixed rate, overruns, repetitions."""

from __future__ import annotations

import logging

import pytest

from repeating import RepeatedTask
from repeating.testing import VirtualClock
from tests.helpers import Recorder


async def test_first_run_at_once(clock: VirtualClock) -> None:
    """By default the first run starts as soon as the task starts."""
    rec = Recorder(clock)
    async with RepeatedTask(func=rec, seconds=10, clock=clock):
        await clock.advance()
        assert rec.starts == [0.0]


async def test_wait_first_none_is_no_wait(clock: VirtualClock) -> None:
    """wait_first=None, fastapi-utils' default since 0.7, means no wait."""
    rec = Recorder(clock)
    async with RepeatedTask(func=rec, seconds=10, wait_first=None, clock=clock) as task:
        await clock.advance()
        assert rec.starts == [0.0]
    assert task.wait_first is False


async def test_wait_first_true_waits_one_period(clock: VirtualClock) -> None:
    """wait_first=True delays the first run by exactly one period."""
    rec = Recorder(clock)
    async with RepeatedTask(func=rec, seconds=10, wait_first=True, clock=clock):
        await clock.advance(9)
        assert rec.starts == []
        await clock.advance(1)
        assert rec.starts == [10.0]
        await clock.advance(10)
        assert rec.starts == [10.0, 20.0]


async def test_wait_first_number_waits_that_long(clock: VirtualClock) -> None:
    """wait_first=2.5 delays the first run by 2.5 s; the grid starts there."""
    rec = Recorder(clock)
    async with RepeatedTask(func=rec, seconds=10, wait_first=2.5, clock=clock):
        await clock.advance(2)
        assert rec.starts == []
        await clock.advance(0.5)
        assert rec.starts == [2.5]
        await clock.advance(10)
        assert rec.starts == [2.5, 12.5]


async def test_max_repetitions_counts_failed_runs(clock: VirtualClock) -> None:
    """max_repetitions=3 with an always-failing function: exactly 3 calls, then the loop ends."""
    calls: list[float] = []

    async def fail() -> None:
        calls.append(clock.time())
        raise ValueError("boom")

    task = RepeatedTask(func=fail, seconds=5, max_repetitions=3, clock=clock)
    task.start()
    await clock.advance(100)
    await task.join()
    assert calls == [0.0, 5.0, 10.0]
    assert (task.count, task.failures, task.running) == (3, 3, False)


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_on_complete_called_once(clock: VirtualClock, kind: str) -> None:
    """on_complete (sync or async) runs once, after the last repetition."""
    completed: list[tuple[float, int]] = []
    task: RepeatedTask

    def sync_done() -> None:
        completed.append((clock.time(), task.count))

    async def async_done() -> None:
        completed.append((clock.time(), task.count))

    task = RepeatedTask(
        func=Recorder(clock),
        seconds=5,
        max_repetitions=2,
        on_complete=sync_done if kind == "sync" else async_done,
        clock=clock,
    )
    task.start()
    await clock.advance(60)
    await task.join()
    assert completed == [(5.0, 2)]


async def test_on_complete_not_called_when_stopped_early(clock: VirtualClock) -> None:
    """A task stopped before max_repetitions is reached does not call on_complete."""
    completed: list[int] = []
    task = RepeatedTask(
        func=Recorder(clock),
        seconds=5,
        max_repetitions=5,
        on_complete=lambda: completed.append(1),
        clock=clock,
    )
    task.start()
    await clock.advance(5)
    task.stop()
    await task.join()
    assert completed == []
    assert task.count == 2


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_on_exception_called_per_failure(clock: VirtualClock, kind: str) -> None:
    """on_exception (sync or async) gets each failure's exception, in order."""
    seen: list[str] = []
    runs = 0

    async def sometimes_fail() -> None:
        nonlocal runs
        runs += 1
        if runs in (1, 3):
            raise KeyError(f"run {runs}")

    def sync_hook(exc: Exception) -> None:
        seen.append(repr(exc))

    async def async_hook(exc: Exception) -> None:
        seen.append(repr(exc))

    task = RepeatedTask(
        func=sometimes_fail,
        seconds=1,
        on_exception=sync_hook if kind == "sync" else async_hook,
        clock=clock,
    )
    async with task:
        await clock.advance(3)
    assert seen == ["KeyError('run 1')", "KeyError('run 3')"]
    assert (task.count, task.failures) == (4, 2)


async def test_failing_on_exception_is_logged_and_loop_continues(
    clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """An on_exception hook that raises is logged with its traceback; the loop goes on."""

    def fail() -> None:
        raise ValueError("run failed")

    def bad_hook(exc: Exception) -> None:
        raise RuntimeError("hook failed")

    task = RepeatedTask(func=fail, seconds=1, on_exception=bad_hook, clock=clock)
    with caplog.at_level(logging.ERROR, logger="repeating"):
        async with task:
            await clock.advance(2)
    hook_records = [r for r in caplog.records if "on_exception hook" in r.getMessage()]
    assert len(hook_records) == 3
    assert hook_records[0].exc_info is not None
    assert isinstance(hook_records[0].exc_info[1], RuntimeError)
    assert (task.count, task.failures) == (3, 3)


async def test_fixed_rate_does_not_drift(clock: VirtualClock) -> None:
    """Period 300 s with 40 s runs: runs start at 0, 300, 600, not 0, 340, 680."""
    rec = Recorder(clock, duration=40)
    task = RepeatedTask(func=rec, seconds=300, clock=clock)
    task.start()
    await clock.advance(600)
    assert rec.starts == [0.0, 300.0, 600.0]
    task.cancel()
    await task.join()


async def test_overrun_skips_to_next_grid_point(
    clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A run of 3.5 periods is followed by a run at the next grid point; 3 ticks are skipped."""
    durations = iter([35.0, 1.0, 1.0])

    async def work() -> None:
        starts.append(clock.time())
        await clock.sleep(next(durations))

    starts: list[float] = []
    task = RepeatedTask(func=work, seconds=10, max_repetitions=3, clock=clock)
    with caplog.at_level(logging.DEBUG, logger="repeating"):
        task.start()
        await clock.advance(100)
        await task.join()
    assert starts == [0.0, 40.0, 50.0]
    assert task.skipped == 3
    debug = [r for r in caplog.records if r.levelno == logging.DEBUG]
    assert [r.getMessage() for r in debug] == [
        "repeated task 'test_overrun_skips_to_next_grid_point.<locals>.work' "
        "overran its period; skipped 3 tick(s)"
    ]


async def test_runs_never_overlap(clock: VirtualClock) -> None:
    """Runs longer than the period never overlap; each starts on the first tick after the last."""
    rec = Recorder(clock, duration=25)
    task = RepeatedTask(func=rec, seconds=10, clock=clock)
    task.start()
    await clock.advance(120)
    assert rec.max_active == 1
    assert rec.starts == [0.0, 30.0, 60.0, 90.0, 120.0]
    assert task.skipped == 8
    task.cancel()
    await task.join()


async def test_run_ending_on_a_grid_point_starts_the_next_at_once(
    clock: VirtualClock,
) -> None:
    """A run that ends exactly on a tick starts the next run there, skipping none before it."""
    rec = Recorder(clock, duration=20)
    task = RepeatedTask(func=rec, seconds=10, max_repetitions=2, clock=clock)
    task.start()
    await clock.advance(60)
    await task.join()
    assert rec.starts == [0.0, 20.0]
    assert task.skipped == 1


async def test_virtual_clock_exact_counts(clock: VirtualClock) -> None:
    """Period 60 s, three advances of 60 s: exactly 4 runs (at 0, 60, 120, 180)."""
    rec = Recorder(clock)
    task = RepeatedTask(func=rec, seconds=60, clock=clock)
    task.start()
    for _ in range(3):
        await clock.advance(60)
    assert task.count == 4
    assert rec.starts == [0.0, 60.0, 120.0, 180.0]
    task.stop()
    await task.join()


async def test_virtual_clock_waits_for_sync_runs(clock: VirtualClock) -> None:
    """advance() waits for a sync run in a worker thread to finish before returning."""
    done: list[float] = []

    def slow() -> None:
        import time

        time.sleep(0.05)
        done.append(clock.time())

    async with RepeatedTask(func=slow, seconds=60, clock=clock):
        await clock.advance(60)
        assert done == [0.0, 60.0]


async def test_timedelta_period(clock: VirtualClock) -> None:
    """seconds accepts a timedelta."""
    from datetime import timedelta

    rec = Recorder(clock)
    task = RepeatedTask(func=rec, seconds=timedelta(minutes=1), clock=clock)
    assert task.seconds == 60.0
    async with task:
        await clock.advance(120)
    assert rec.starts == [0.0, 60.0, 120.0]
